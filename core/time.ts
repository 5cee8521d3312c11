// How Hookline writes times into Kubernetes objects: metav1.Time (RFC 3339 in whole
// seconds, as condition and status timestamps are) and metav1.MicroTime (Leases).

/** The last second written, and its text. */
let last = { second: NaN, text: '' };

/** RFC 3339 in whole seconds, UTC: 2026-12-02T14:33:19Z. */
export function kubeTime(date: Date): string {
  const second = Math.floor(date.getTime() / 1000);
  // Every delivery's record is stamped: within one second the text is the same.
  if (second !== last.second) last = { second, text: date.toISOString().replace(/\.\d+Z$/, 'Z') };
  return last.text;
}

/** RFC 3339 with microseconds, UTC, from epoch milliseconds: 2026-12-02T14:33:19.123000Z. */
export function kubeMicroTime(ms: number): string {
  return new Date(ms).toISOString().replace('Z', '000Z');
}
