/**
 * Compares two V8 heap snapshots (e.g. the soak's soak-warm / soak-end with --snapshots):
 * self size and count per constructor name, largest growth first.
 *
 *   node bench/heap-diff.js bench/results/tmp/soak-warm.heapsnapshot bench/results/tmp/soak-end.heapsnapshot [--top 20]
 */
import { readFileSync } from 'node:fs';

function summarise(path) {
  const snap = JSON.parse(readFileSync(path, 'utf8'));
  const {
    node_fields: fields,
    node_types: [types],
  } = snap.snapshot.meta;
  const width = fields.length;
  const [TYPE, NAME, SIZE] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f));
  const byName = new Map();
  let total = 0;
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + TYPE]];
    const name = type === 'object' || type === 'closure' ? snap.strings[snap.nodes[i + NAME]] : `(${type})`;
    const size = snap.nodes[i + SIZE];
    total += size;
    const e = byName.get(name) ?? { count: 0, bytes: 0 };
    e.count++;
    e.bytes += size;
    byName.set(name, e);
  }
  return { total, byName };
}

const [a, b] = process.argv.slice(2, 4);
const top = Number(process.argv[process.argv.indexOf('--top') + 1]) || 20;
const before = summarise(a);
const after = summarise(b);
const rows = [...new Set([...before.byName.keys(), ...after.byName.keys()])]
  .map((name) => {
    const x = before.byName.get(name) ?? { count: 0, bytes: 0 };
    const y = after.byName.get(name) ?? { count: 0, bytes: 0 };
    return {
      name,
      countBefore: x.count,
      countAfter: y.count,
      kbBefore: Math.round(x.bytes / 1024),
      kbAfter: Math.round(y.bytes / 1024),
      kbGrowth: Math.round((y.bytes - x.bytes) / 1024),
    };
  })
  .sort((p, q) => Math.abs(q.kbGrowth) - Math.abs(p.kbGrowth));
console.log(`heap: ${(before.total / 1048576).toFixed(1)} MB → ${(after.total / 1048576).toFixed(1)} MB`);
console.table(rows.slice(0, top));
