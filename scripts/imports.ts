// `npm run imports`: lists every import that crosses between core/, operator/, dispatcher/
// and cli/, and fails when one breaks the layout: the operator, the dispatcher and the
// kubectl plugin (cli/) build on core/ and none imports another; core/ imports none of them.
// The entry point that starts either half, hookline.ts, sits beside the folders, outside
// all of them.
// ESLint's no-restricted-imports enforces the same for static imports; this scan also sees
// dynamic `import()`.
import fs from 'node:fs';
import path from 'node:path';

export const FOLDERS = ['core', 'operator', 'dispatcher', 'cli'] as const;
type Folder = (typeof FOLDERS)[number];

export interface CrossImport {
  /** The importing file, relative to the repo. */
  file: string;
  specifier: string;
  from: Folder;
  to: Folder;
}

/** Which folders each folder may import from, besides itself. */
const ALLOWED: Record<Folder, readonly Folder[]> = {
  core: [],
  operator: ['core'],
  dispatcher: ['core'],
  cli: ['core'],
};

const SPECIFIER = /(?:\b(?:import|export)\s[^'"`;]*?\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)'([^']+)'/g;

/** The relative specifiers a module imports statically or dynamically. */
export function specifiersOf(source: string): string[] {
  return [...source.matchAll(SPECIFIER)].map((match) => match[1]!).filter((s) => s.startsWith('.'));
}

function sourceFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { recursive: true, encoding: 'utf8' }).flatMap((entry) => {
    const file = path.join(dir, entry);
    return entry.endsWith('.ts') && fs.statSync(file).isFile() ? [file] : [];
  });
}

function folderOf(relative: string): Folder | undefined {
  const top = relative.split(path.sep)[0];
  return FOLDERS.find((folder) => folder === top);
}

/** Every import (tests included) from one of FOLDERS into another, in `root`. */
export function crossFolderImports(root: string): CrossImport[] {
  const found: CrossImport[] = [];
  for (const folder of FOLDERS) {
    for (const file of sourceFiles(path.join(root, folder))) {
      const relative = path.relative(root, file);
      for (const specifier of specifiersOf(fs.readFileSync(file, 'utf8'))) {
        const target = path.relative(root, path.resolve(path.dirname(file), specifier));
        const to = folderOf(target);
        if (to && to !== folder) found.push({ file: relative, specifier, from: folder, to });
      }
    }
  }
  return found;
}

/** The imports that break the layout. */
export function forbiddenImports(imports: readonly CrossImport[]): CrossImport[] {
  return imports.filter((imported) => !ALLOWED[imported.from].includes(imported.to));
}

if (import.meta.main) {
  const root = path.resolve(import.meta.dirname, '..');
  const imports = crossFolderImports(root);
  const counts = new Map<string, number>();
  for (const { from, to } of imports)
    counts.set(`${from}/ → ${to}/`, (counts.get(`${from}/ → ${to}/`) ?? 0) + 1);
  for (const [edge, count] of [...counts].sort()) console.log(`${edge}: ${count}`);
  const forbidden = forbiddenImports(imports);
  for (const { file, specifier } of forbidden) console.error(`forbidden: ${file} imports ${specifier}`);
  if (forbidden.length > 0) process.exitCode = 1;
}
