// Each case page in docs/cases shows its example's manifests; they must be the file that
// the tests apply, not a copy drifting from it.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';

const repo = path.resolve(import.meta.dirname, '..', '..');

describe('docs/cases', () => {
  for (const example of fs.readdirSync(path.join(repo, 'examples'))) {
    const page = path.join(repo, 'docs', 'cases', `${example}.md`);
    if (!fs.existsSync(page)) continue;
    it(`${example}.md shows examples/${example}/hookline.yaml as it is`, () => {
      const manifest = fs.readFileSync(path.join(repo, 'examples', example, 'hookline.yaml'), 'utf8');
      const blocks = [...fs.readFileSync(page, 'utf8').matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
      assert.ok(
        blocks.some((block) => block.trim() === manifest.trim()),
        `update docs/cases/${example}.md`,
      );
    });
  }
  it('has a page for every real case', () => {
    for (const example of ['anchor-platform', 'midaz', 'payments', 'api-manager'])
      assert.ok(fs.existsSync(path.join(repo, 'docs', 'cases', `${example}.md`)), example);
  });
});
