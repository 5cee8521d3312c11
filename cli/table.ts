// How kubectl prints: columns padded to their widest cell and three spaces apart, ages as
// kubectl shows them (5s, 3m20s, 2h, 4d), and free text cut to fit a row.

/** A table with a header row, every column padded to its widest cell (the last one is not padded). */
export function formatTable(columns: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = columns.map((column, i) =>
    Math.max(width(column), ...rows.map((row) => width(row[i] ?? ''))),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell + ' '.repeat(widths[i]! - width(cell))))
      .join('   ')
      .trimEnd();
  return [line(columns), ...rows.map(line)].join('\n') + '\n';
}

/** Characters as a terminal counts them (code points, not UTF-16 units). */
function width(text: string): number {
  return [...text].length;
}

/** The text on one line, cut to `max` characters with an ellipsis; '-' when there is none. */
export function cut(text: string | undefined | null, max: number): string {
  const flat = (text ?? '').replace(/\s+/g, ' ').trim();
  if (flat === '') return '-';
  const chars = [...flat];
  return chars.length <= max ? flat : `${chars.slice(0, max - 1).join('')}…`;
}

/** A duration the way kubectl shows an age (k8s.io/apimachinery duration.HumanDuration). */
export function humanAge(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  const minutes = Math.floor(seconds / 60);
  const hours = Math.floor(minutes / 60);
  const days = Math.floor(hours / 24);
  const years = Math.floor(days / 365);
  const pair = (a: number, unitA: string, b: number, unitB: string) =>
    b === 0 ? `${a}${unitA}` : `${a}${unitA}${b}${unitB}`;
  if (seconds < 60 * 2) return `${seconds}s`;
  if (minutes < 10) return pair(minutes, 'm', seconds % 60, 's');
  if (minutes < 60 * 3) return `${minutes}m`;
  if (hours < 8) return pair(hours, 'h', minutes % 60, 'm');
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8) return pair(days, 'd', hours % 24, 'h');
  if (hours < 24 * 365 * 2) return `${days}d`;
  if (years < 8) return pair(years, 'y', days % 365, 'd');
  return `${years}y`;
}

/** The age of an RFC 3339 time at `now`; '-' when there is none or it does not parse. */
export function ageOf(time: string | undefined | null, now: Date): string {
  const at = time ? Date.parse(time) : Number.NaN;
  return Number.isNaN(at) ? '-' : humanAge(now.getTime() - at);
}

/** A number or '-'. */
export function numberCell(value: number | undefined | null, suffix = ''): string {
  return value === undefined || value === null ? '-' : `${value}${suffix}`;
}
