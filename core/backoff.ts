// The delay before the next attempt after a run of failures.
/** Exponential backoff with full jitter in [base·2^n·(1-jitter), base·2^n], capped at max. */
export function backoffDelay(
  failures: number,
  options: { baseMs: number; maxMs: number; jitter?: number },
  random: () => number = Math.random,
): number {
  const exponent = Math.max(0, failures - 1);
  const ceiling = Math.min(options.maxMs, options.baseMs * 2 ** Math.min(exponent, 30));
  const jitter = options.jitter ?? 0.5;
  return Math.round(ceiling * (1 - jitter * random()));
}
