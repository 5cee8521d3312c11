// Reading a `kubectl get` table the way an SRE's eye does: by the column headers. Cells are
// cut at the offsets where the headers start (kubectl pads every cell to its column), so an
// empty cell reads as '' rather than shifting the cells after it.

export interface Table {
  columns: string[];
  rows: Record<string, string>[];
}

export function parseTable(text: string): Table {
  const [header = '', ...lines] = text.split('\n').filter((line) => line.trim() !== '');
  const starts = [...header.matchAll(/\S+/g)].map((match) => ({ name: match[0], at: match.index }));
  const rows = lines.map((line) =>
    Object.fromEntries(
      starts.map(({ name, at }, i) => [name, line.slice(at, starts[i + 1]?.at ?? line.length).trim()]),
    ),
  );
  return { columns: starts.map((s) => s.name), rows };
}

/** A table's rows by the value of their first column (NAME). */
export function rowsByName(table: Table): Map<string, Record<string, string>> {
  return new Map(table.rows.map((row) => [row[table.columns[0]!]!, row]));
}

/** A counter cell as a number: kubectl prints an absent value as '<none>' or leaves it empty. */
export function count(cell: string | undefined): number {
  return cell === undefined || cell === '' || cell === '<none>' ? 0 : Number(cell);
}

/** The columns of `kubectl get webhooks`, in order (SPEC §2). */
export const WEBHOOK_COLUMNS = [
  'NAME',
  'URL',
  'SOURCE',
  'READY',
  'DISABLED',
  'DELIVERED',
  'FAILED',
  'LAST-STATUS',
  'LAST-ATTEMPT',
  'AGE',
];
