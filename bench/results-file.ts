// Where every benchmark leaves its figures: bench/results/<file>, formatted as the
// repository's Prettier formats it, so that a run's file is committed as it was written.
import fs from 'node:fs';
import path from 'node:path';
import * as prettier from 'prettier';

export async function writeResults(file: string, figures: Record<string, unknown>): Promise<void> {
  const dir = path.join(import.meta.dirname, 'results');
  fs.mkdirSync(dir, { recursive: true });
  const target = path.join(dir, file);
  const options = (await prettier.resolveConfig(target)) ?? {};
  fs.writeFileSync(target, await prettier.format(JSON.stringify(figures), { ...options, filepath: target }));
}
