import parsePrometheusTextFormat from 'parse-prometheus-text-format';

interface Family {
  name: string;
  type: string;
}
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/gy;

/**
 * A `/metrics` body checked by a real Prometheus text parser (parse-prometheus-text-format throws
 * on any malformed line and gives the families and their types). Its histogram output loses
 * labelled `_count` lines, so samples are read here, strictly, line by line.
 */
export class Scrape {
  readonly families = new Map<string, Family>();
  readonly all: Sample[] = [];

  constructor(readonly text: string) {
    for (const f of parsePrometheusTextFormat(text) as Family[]) this.families.set(f.name, f);
    for (const line of text.split('\n')) {
      if (line === '' || line.startsWith('#')) continue;
      const m = SAMPLE.exec(line);
      if (!m) throw new Error(`not a sample line: ${line}`);
      const labels: Record<string, string> = {};
      if (m[2]) {
        let at = 0;
        LABEL.lastIndex = 0;
        for (let l = LABEL.exec(m[2]); l; l = LABEL.exec(m[2])) {
          labels[l[1]!] = l[2]!;
          at = LABEL.lastIndex;
        }
        if (at !== m[2].length) throw new Error(`bad labels: ${line}`);
      }
      this.all.push({ name: m[1]!, labels, value: Number(m[3]) });
    }
  }

  static async of(url: string, headers: Record<string, string> = {}): Promise<Scrape> {
    const res = await fetch(`${url}/metrics`, { headers });
    if (res.status !== 200) throw new Error(`/metrics ${res.status}: ${await res.text()}`);
    if (!res.headers.get('content-type')?.startsWith('text/plain')) throw new Error(`content-type ${res.headers.get('content-type')}`);
    return new Scrape(await res.text());
  }

  private samples(name: string, labels: Record<string, string>): Sample[] {
    const family = name.replace(/_(count|sum|bucket)$/, '');
    if (!this.families.has(name) && !this.families.has(family)) throw new Error(`no metric ${name}`);
    return this.all.filter((m) => m.name === name && Object.entries(labels).every(([k, v]) => m.labels[k] === v));
  }

  /** A counter's or gauge's value summed over the samples matching `labels` (0 when none). */
  value(name: string, labels: Record<string, string> = {}): number {
    return this.samples(name, labels).reduce((n, m) => n + m.value, 0);
  }

  /** A histogram's sample count summed over the series matching `labels`. */
  count(name: string, labels: Record<string, string> = {}): number {
    return this.value(`${name}_count`, labels);
  }

  /** Label values of a metric's samples (to check no unbounded label crept in). */
  labelValues(name: string, label: string): string[] {
    return [...new Set(this.all.filter((m) => m.name === name).map((m) => m.labels[label]!))];
  }

  type(name: string): string | undefined {
    return this.families.get(name)?.type;
  }
}
