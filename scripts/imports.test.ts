import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { crossFolderImports, forbiddenImports, specifiersOf } from './imports.ts';

const repo = path.resolve(import.meta.dirname, '..');

describe('the layout of imports', () => {
  it('has no import from the dispatcher into the operator, the operator into the dispatcher, or core/ into either', () => {
    const imports = crossFolderImports(repo);
    assert.ok(
      imports.filter((i) => i.from === 'dispatcher' && i.to === 'core').length > 30,
      'the import scan is broken',
    );
    assert.deepEqual(forbiddenImports(imports), []);
  });

  it('starts the two halves from the entry point beside them, not from one inside the other', () => {
    const crossing = crossFolderImports(repo).filter(
      (i) =>
        (i.from === 'dispatcher' && i.to === 'operator') || (i.from === 'operator' && i.to === 'dispatcher'),
    );
    assert.deepEqual(crossing, []);
    const entry = specifiersOf(fs.readFileSync(path.join(repo, 'hookline.ts'), 'utf8'));
    for (const half of ['./operator/main.ts', './dispatcher/main.ts'])
      assert.ok(entry.includes(half), `hookline.ts does not import ${half}`);
  });

  it('keeps the kubectl plugin on core/, out of the operator and the dispatcher', () => {
    const fromCli = crossFolderImports(repo).filter((i) => i.from === 'cli');
    assert.ok(
      fromCli.some((i) => i.to === 'core'),
      'the import scan sees no import from cli/ into core/',
    );
    assert.deepEqual(
      fromCli.filter((i) => i.to === 'dispatcher' || i.to === 'operator'),
      [],
    );
  });

  it('sees multi-line, type-only, re-exported and dynamic imports', () => {
    const source = [
      "import fs from 'node:fs';",
      'import {',
      '  a,',
      '  b,',
      "} from '../operator/a.ts';",
      "import type { C } from '../operator/c.ts';",
      "export { d } from '../operator/d.ts';",
      "import '../operator/e.ts';",
      "const f = await import('../operator/f.ts');",
    ].join('\n');
    assert.deepEqual(specifiersOf(source), [
      '../operator/a.ts',
      '../operator/c.ts',
      '../operator/d.ts',
      '../operator/e.ts',
      '../operator/f.ts',
    ]);
  });

  it('reports a forbidden import', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'hookline-imports-'));
    try {
      for (const [file, source] of Object.entries({
        'core/a.ts': 'export const a = 1;\n',
        'operator/b.ts': "import { a } from '../core/a.ts';\nexport const b = a;\n",
        'dispatcher/deep/c.ts': "import { b } from '../../operator/b.ts';\nexport const c = b;\n",
        'cli/d.ts':
          "import { a } from '../core/a.ts';\nconst { c } = await import('../dispatcher/deep/c.ts');\n",
      })) {
        fs.mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
        fs.writeFileSync(path.join(root, file), source);
      }
      assert.deepEqual(forbiddenImports(crossFolderImports(root)), [
        {
          file: 'dispatcher/deep/c.ts',
          specifier: '../../operator/b.ts',
          from: 'dispatcher',
          to: 'operator',
        },
        {
          file: 'cli/d.ts',
          specifier: '../dispatcher/deep/c.ts',
          from: 'cli',
          to: 'dispatcher',
        },
      ]);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
