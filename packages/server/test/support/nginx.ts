import { existsSync } from 'node:fs';
// @ts-expect-error: a plain ES module shared with the cluster harness and the benchmarks
import { NGINX, startNginx as startNginxFor } from '../../../../scripts/cluster.js';

export { NGINX };
export const nginxAvailable = existsSync(NGINX);

/**
 * What the site file prevents: nginx's defaults (buffering, HTTP/1.0 upstream), also ignoring
 * our X-Accel-Buffering header. An `edit` for startNginx.
 */
export const bufferingOn = (site: string) =>
  site
    .replace('proxy_buffering off;', 'proxy_buffering on; proxy_ignore_headers X-Accel-Buffering;')
    .replace('proxy_http_version 1.1;', 'proxy_http_version 1.0;');

export interface Nginx {
  url: string;
  close(): Promise<void>;
}

/**
 * Debian's nginx in front of `upstream`, configured by the shipped site file
 * (`deploy/nginx.conf`) with only its listen and upstream addresses changed; `edit` may change
 * the site further (the buffering-on variant). The cluster harness runs it in front of N nodes.
 */
export function startNginx(upstream: string, edit: (site: string) => string = (s) => s): Promise<Nginx> {
  return startNginxFor([new URL(upstream).host], { edit });
}
