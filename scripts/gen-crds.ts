// `npm run crds`: writes crds/*.yaml and docs/api.md from the zod schemas in
// core/api/v1alpha1. With --check it writes nothing and fails when a file differs.
import fs from 'node:fs';
import path from 'node:path';
import { generatedFiles } from '../core/api/generate.ts';

const root = path.resolve(import.meta.dirname, '..');
const check = process.argv.includes('--check');
let stale = 0;
for (const [relative, content] of Object.entries(generatedFiles())) {
  const file = path.join(root, relative);
  const current = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : undefined;
  if (current === content) continue;
  if (check) {
    console.error(`${relative} differs from what the generator writes; run: npm run crds`);
    stale++;
  } else {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, content);
    console.log(`wrote ${relative}`);
  }
}
if (stale > 0) process.exitCode = 1;
