// bench/profile-summary: where a process's CPU time went, from a V8 CPU profile (the
// .cpuprofile that `node --cpu-prof` writes at exit), without opening DevTools. Prints the
// busy share over time, the top frames by self and by inclusive time, and self time by
// area: V8/Node internals, each node_modules package, and our own folders.
// Percentages are of the busy samples: "(idle)" (waiting in the event loop) is left out.
//
//   NODE_OPTIONS="--cpu-prof --cpu-prof-dir=/tmp/prof" npm run bench:dispatch -- --rounds 1
//   node bench/profile-summary.ts /tmp/prof/CPU.<...>.cpuprofile [--top 30] [--from 40 --to 90]
//
// --from/--to (seconds since the profile began) keep only the samples of one phase; the
// timeline shows where the phases are.
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    top: { type: 'string' },
    from: { type: 'string', default: '0' },
    to: { type: 'string', default: 'Infinity' },
    bucket: { type: 'string', default: '5' },
  },
});
const file = positionals[0];
if (!file) {
  console.error(
    'usage: node bench/profile-summary.ts <file.cpuprofile> [--top N] [--from s] [--to s] [--bucket s]',
  );
  process.exit(2);
}
const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as Profile;
const repo = path.resolve(import.meta.dirname, '..');
const [fromUs, toUs] = [Number(values.from) * 1e6, Number(values.to) * 1e6];
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

// Where a frame lives: a node_modules package, a repository path, a node: module, or V8 itself.
function place(url: string): { pkg?: string; rel: string } {
  const plain = url.startsWith('file://') ? decodeURIComponent(new URL(url).pathname) : url;
  const nm = plain.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = plain.slice(nm + '/node_modules/'.length).split('/');
    const pkgLength = rest[0]?.startsWith('@') ? 2 : 1;
    return { pkg: rest.slice(0, pkgLength).join('/'), rel: rest.slice(pkgLength).join('/') };
  }
  return { rel: plain.startsWith(repo + '/') ? plain.slice(repo.length + 1) : plain };
}

function label(frame: CallFrame): string {
  const name = frame.functionName || '(anonymous)';
  if (!frame.url) return name.startsWith('(') ? name : `${name}  [native]`;
  const { pkg, rel } = place(frame.url);
  return `${name}  ${pkg ? `[${pkg}] ` : ''}${rel}:${frame.lineNumber + 1}`;
}

function area(id: number): string {
  const frame = byId.get(id)!.callFrame;
  if (frame.functionName.startsWith('(') && !frame.url) return frame.functionName; // (program), (garbage collector)
  if (!frame.url) {
    // A V8 builtin or native binding (a syscall, HMAC): named after the first caller outside node:.
    for (let at = parent.get(id); at !== undefined; at = parent.get(at)) {
      const { url } = byId.get(at)!.callFrame;
      if (url && !url.startsWith('node:')) return `(native) <- ${area(at)}`;
    }
    return '(native)';
  }
  if (frame.url.startsWith('wasm://')) return '(wasm)';
  const { pkg, rel } = place(frame.url);
  if (pkg) return pkg;
  if (rel.startsWith('node:')) return rel.split('/').slice(0, 2).join('/'); // node:internal/streams, node:events
  const parts = rel.split('/');
  return parts.length > 2 ? parts.slice(0, 2).join('/') : rel; // dispatcher/deliver, dispatcher/tracing.ts
}

// Samples of the window, counted per node, plus a busy timeline.
const selfById = new Map<number, number>();
const bucketUs = Number(values.bucket) * 1e6;
const timeline: ({ busy: number; all: number } | undefined)[] = [];
let t = 0;
let idle = 0;
let busy = 0;
profile.samples.forEach((id, i) => {
  t += profile.timeDeltas[i] ?? 0;
  const isIdle = byId.get(id)?.callFrame.functionName === '(idle)';
  const slot = (timeline[Math.floor(t / bucketUs)] ??= { busy: 0, all: 0 });
  slot.all++;
  if (!isIdle) slot.busy++;
  if (t < fromUs || t > toUs) return;
  if (isIdle) idle++;
  else {
    busy++;
    selfById.set(id, (selfById.get(id) ?? 0) + 1);
  }
});

// Per frame (function + file + line, over all its call paths): self, and inclusive counted once per sample.
const self = new Map<string, number>();
const total = new Map<string, number>();
const areas = new Map<string, number>();
const add = (map: Map<string, number>, key: string, n: number) => map.set(key, (map.get(key) ?? 0) + n);
for (const [id, count] of selfById) {
  const frame = byId.get(id)!.callFrame;
  add(self, label(frame), count);
  add(areas, area(id), count);
  const seen = new Set<string>();
  for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
    const key = label(byId.get(at)!.callFrame);
    if (key === '(root)' || seen.has(key)) continue;
    seen.add(key);
    add(total, key, count);
  }
}

const pct = (n: number) => `${((100 * n) / Math.max(busy, 1)).toFixed(1).padStart(5)}%`;
function table(title: string, map: Map<string, number>, top: number): void {
  console.log(`\n${title}`);
  for (const [key, n] of [...map].sort((a, b) => b[1] - a[1]).slice(0, top))
    console.log(`  ${pct(n)} ${String(n).padStart(6)}  ${key}`);
}

const ms = (us: number) => (us / 1000).toFixed(0);
const interval = profile.timeDeltas.length ? t / profile.timeDeltas.length : 0;
console.log(
  `${path.basename(file)}: ${(t / 1e6).toFixed(1)} s, ${profile.samples.length} samples (~${interval.toFixed(0)} µs apart)`,
);
console.log(
  `busy % per ${values.bucket} s: ${Array.from(timeline, (s) => (s ? Math.round((100 * s.busy) / Math.max(s.all, 1)) : 0)).join(' ')}`,
);
console.log(
  `window ${values.from}–${values.to} s: ${busy} busy samples (~${ms(busy * interval)} ms CPU), ${idle} idle; percentages are of busy samples`,
);
const top = Number(values.top ?? 30);
table(`Top ${top} frames by self time`, self, top);
table(`Top ${values.top ? top : 25} frames by inclusive time`, total, values.top ? top : 25);
table('Self time by area', areas, 40);
