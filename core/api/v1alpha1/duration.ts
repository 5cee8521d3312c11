// Durations as Kubernetes users write them: "500ms", "30s", "5m", "1h", "1h30m".
import { z } from 'zod';

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;
const DURATION_PATTERN = '^([0-9]+(ms|s|m|h))+$';
const DURATION = new RegExp(DURATION_PATTERN);
const PART = /([0-9]+)(ms|s|m|h)/g;

/** Milliseconds of a duration string, or undefined when it does not parse. */
export function parseDuration(text: string): number | undefined {
  if (!DURATION.test(text)) return undefined;
  let total = 0;
  for (const [, amount, unit] of text.matchAll(PART)) {
    total += Number(amount) * UNIT_MS[unit as keyof typeof UNIT_MS];
  }
  return total;
}

export function formatDuration(ms: number): string {
  for (const [unit, size] of [
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/** A duration field; `max` bounds it (e.g. 24h) so that nobody schedules a retry for next year. */
export function duration(description: string, max = '24h') {
  const maxMs = parseDuration(max) ?? Number.POSITIVE_INFINITY;
  return z
    .string()
    .max(32)
    .regex(DURATION, { message: 'must be a duration such as 500ms, 30s, 5m, 1h or 1h30m' })
    .refine((value) => (parseDuration(value) ?? 0) <= maxMs, { message: `must be at most ${max}` })
    .meta({
      description: `${description} A duration such as 500ms, 30s, 5m, 1h or 1h30m (at most ${max}).`,
      // The pattern is checked first, so that a malformed value gets one clear message.
      'x-kubernetes-validations': [
        {
          rule: `!self.matches('${DURATION_PATTERN}') || duration(self) <= duration('${max}')`,
          message: `must be at most ${max}`,
        },
      ],
    });
}

export { DURATION_PATTERN };
