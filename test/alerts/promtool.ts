// promtool, from Debian's prometheus package (scripts/obtain/system-packages.sh), or $PROMTOOL.
import { spawnSync } from 'node:child_process';
import { repo } from './metrics.ts';

/** Runs promtool in the repository; its exit status and what it printed. */
export function promtool(...args: string[]): { status: number | null; output: string } {
  const command = process.env.PROMTOOL ?? 'promtool';
  const result = spawnSync(command, args, { cwd: repo, encoding: 'utf8', timeout: 60_000 });
  if (result.error) {
    throw new Error(
      `cannot run ${command} (${result.error.message}): install Debian's prometheus package, or set PROMTOOL`,
    );
  }
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}
