import { existsSync } from 'node:fs';
// @ts-expect-error: a plain ES module shared with the cluster harness and the benchmarks
import { NGINX, startNginx as startNginxFor } from '../../../../scripts/cluster.js';

export { NGINX };
export const nginxAvailable = existsSync(NGINX);

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
