// Runs a benchmark's process under a memory limit, as a container's limit would: a cgroup of
// the Linux memory controller (v1, or v2 where it is the one mounted), made for the process
// and removed after it. Node sizes its heap from such a limit, so a process measured with it
// collects its garbage as it would in its pod. Needs root; where no memory controller can be
// written, there is no limit and the caller says so.
import fs from 'node:fs';
import path from 'node:path';

const MiB = 1024 * 1024;

export interface MemoryLimit {
  /** The limit, in MiB. */
  limitMiB: number;
  /** Command words that start the process inside the cgroup (they end with an exec of the rest). */
  prefix: string[];
  /** The cgroup's highest memory use (the process's pages and page cache), in MiB. */
  peakMiB(): number;
  /** How many times the kernel killed a process of the cgroup for want of memory. */
  oomKills(): number;
  remove(): void;
}

/** Kubernetes memory quantities as the Deployment's limits write them: 512Mi, 1Gi, 1G, 536870912. */
export function quantityBytes(quantity: string | number): number {
  if (typeof quantity === 'number') return quantity;
  const match = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(quantity.trim());
  if (!match) throw new Error(`"${quantity}" is not a memory quantity`);
  const units: Record<string, number> = {
    Ki: 1024,
    Mi: MiB,
    Gi: 1024 * MiB,
    Ti: 1024 * 1024 * MiB,
    k: 1e3,
    M: 1e6,
    G: 1e9,
    T: 1e12,
  };
  return Math.round(Number(match[1]) * (match[2] ? units[match[2]]! : 1));
}

const readNumber = (file: string) => Number(fs.readFileSync(file, 'utf8').trim().split('\n')[0]);

function keyedValue(file: string, key: string): number {
  const line = fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${key} `));
  return Number(line?.split(' ')[1] ?? 0);
}

/** A cgroup limited to `bytes` for `name`, or undefined where none can be made. */
export function memoryLimit(name: string, bytes: number): MemoryLimit | undefined {
  const v1 = '/sys/fs/cgroup/memory';
  const v2 = '/sys/fs/cgroup';
  const isV1 = fs.existsSync(path.join(v1, 'memory.limit_in_bytes'));
  const isV2 =
    !isV1 &&
    fs.existsSync(path.join(v2, 'cgroup.controllers')) &&
    fs.readFileSync(path.join(v2, 'cgroup.controllers'), 'utf8').split(/\s+/).includes('memory');
  if (!isV1 && !isV2) return undefined;
  const dir = path.join(isV1 ? v1 : v2, `${name}-${process.pid}`);
  try {
    fs.mkdirSync(dir);
    if (isV1) fs.writeFileSync(path.join(dir, 'memory.limit_in_bytes'), String(bytes));
    else fs.writeFileSync(path.join(dir, 'memory.max'), String(bytes));
  } catch {
    fs.rmSync(dir, { recursive: true, force: true });
    return undefined;
  }
  const procs = path.join(dir, 'cgroup.procs');
  return {
    limitMiB: Math.round(bytes / MiB),
    // The shell writes its own pid into the cgroup, then becomes the process: same pid, inside.
    prefix: ['/bin/sh', '-c', 'echo $$ > "$0" && exec "$@"', procs],
    peakMiB: () =>
      Math.round(
        (isV1
          ? readNumber(path.join(dir, 'memory.max_usage_in_bytes'))
          : fs.existsSync(path.join(dir, 'memory.peak'))
            ? readNumber(path.join(dir, 'memory.peak'))
            : 0) / MiB,
      ),
    oomKills: () =>
      isV1
        ? keyedValue(path.join(dir, 'memory.oom_control'), 'oom_kill')
        : keyedValue(path.join(dir, 'memory.events'), 'oom_kill'),
    remove: () => {
      try {
        fs.rmdirSync(dir);
      } catch {
        // a process still in it: the kernel keeps the cgroup until it is gone
      }
    },
  };
}
