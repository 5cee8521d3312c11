// Global setup for `node --test`: the real components are started once per test run (or
// reused when `npm run env:up` already started them) and stopped at the end if this run
// started them. HOOKLINE_KEEP_ENV=1 keeps them running for the next run.
import { envConfig } from './config.ts';
import { down, up } from './env.ts';

let startedHere: Awaited<ReturnType<typeof up>>['started'] = [];

export async function globalSetup(): Promise<void> {
  const { started, timings } = await up(envConfig());
  startedHere = started;
  process.stderr.write(
    `[hookline env] ready in ${((timings.total ?? 0) / 1000).toFixed(1)} s; started: ${started.join(', ') || 'none (reused)'}\n`,
  );
}

export async function globalTeardown(): Promise<void> {
  if (process.env.HOOKLINE_KEEP_ENV === '1' || startedHere.length === 0) return;
  await down(envConfig(), startedHere);
}
