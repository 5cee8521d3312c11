import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { customResourceDefinition, openApiSchema, toStructural } from './crd.ts';
import { generatedFiles } from './generate.ts';
import { kinds } from './v1alpha1/index.ts';

const repo = path.resolve(import.meta.dirname, '..', '..');

describe('generated files', () => {
  for (const [relative, content] of Object.entries(generatedFiles())) {
    it(`${relative} is what \`npm run crds\` writes`, () => {
      const file = path.join(repo, relative);
      assert.ok(fs.existsSync(file), `${relative} is missing: run npm run crds`);
      assert.equal(
        fs.readFileSync(file, 'utf8'),
        content,
        `${relative} drifted from the schemas: run npm run crds`,
      );
    });
  }
});

describe('toStructural', () => {
  const cases: { name: string; input: Record<string, unknown>; expected: Record<string, unknown> }[] = [
    {
      name: 'drops $schema, propertyNames and additionalProperties: false',
      input: { $schema: 'x', type: 'object', propertyNames: { type: 'string' }, additionalProperties: false },
      expected: { type: 'object' },
    },
    {
      name: 'turns a union of constants into an enum',
      input: {
        anyOf: [
          { type: 'number', const: 1024 },
          { type: 'number', const: 2048 },
        ],
      },
      expected: { type: 'integer', enum: [1024, 2048] },
    },
    {
      name: 'turns a constant into a one-value enum',
      input: { type: 'string', const: 'Webhook' },
      expected: { type: 'string', enum: ['Webhook'] },
    },
    {
      name: 'turns numeric exclusive bounds into OpenAPI v3.0 booleans',
      input: { type: 'number', exclusiveMinimum: 0 },
      expected: { type: 'number', minimum: 0, exclusiveMinimum: true },
    },
    {
      name: 'keeps no type or union under int-or-string',
      input: { anyOf: [{ type: 'number' }, { type: 'string' }], 'x-kubernetes-int-or-string': true },
      expected: { 'x-kubernetes-int-or-string': true },
    },
    {
      name: 'keeps no union under preserve-unknown-fields',
      input: { anyOf: [{ type: 'string' }, { type: 'array' }], 'x-kubernetes-preserve-unknown-fields': true },
      expected: { 'x-kubernetes-preserve-unknown-fields': true },
    },
    {
      name: 'recurses into properties, items and additionalProperties',
      input: {
        type: 'object',
        properties: { a: { type: 'array', items: { type: 'string', const: 'x' } } },
        additionalProperties: {
          type: 'integer',
          minimum: Number.MIN_SAFE_INTEGER,
          maximum: Number.MAX_SAFE_INTEGER,
        },
      },
      expected: {
        type: 'object',
        properties: { a: { type: 'array', items: { type: 'string', enum: ['x'] } } },
        additionalProperties: { type: 'integer' },
      },
    },
  ];
  for (const { name, input, expected } of cases) {
    it(name, () => assert.deepEqual(toStructural(input), expected));
  }

  it('refuses a union it cannot express', () => {
    assert.throws(
      () => toStructural({ anyOf: [{ type: 'string' }, { type: 'number' }] }),
      /cannot express a union/,
    );
  });
});

describe('customResourceDefinition', () => {
  it('gives every kind the category, status subresource, short names and a required spec', () => {
    for (const kind of kinds) {
      const crd = customResourceDefinition(kind);
      const spec = crd.spec as {
        names: { categories: string[]; shortNames: string[] };
        versions: { subresources: unknown; schema: { openAPIV3Schema: { required: string[] } } }[];
      };
      assert.deepEqual(spec.names.categories, ['hookline']);
      assert.deepEqual(spec.names.shortNames, kind.shortNames);
      assert.deepEqual(spec.versions[0]?.subresources, { status: {} });
      assert.deepEqual(spec.versions[0]?.schema.openAPIV3Schema.required, ['spec']);
    }
  });

  it('describes every field of every spec', () => {
    const undocumented: string[] = [];
    const visit = (node: Record<string, unknown>, at: string) => {
      if (at.split('.').length > 1 && typeof node.description !== 'string') undocumented.push(at);
      for (const [key, child] of Object.entries(
        (node.properties ?? {}) as Record<string, Record<string, unknown>>,
      )) {
        visit(child, `${at}.${key}`);
      }
      if (node.items) visit(node.items as Record<string, unknown>, `${at}[]`);
    };
    for (const kind of kinds) visit(openApiSchema(kind.spec), `${kind.kind}.spec`);
    assert.deepEqual(undocumented, []);
  });

  it('puts zod rules into x-kubernetes-validations', () => {
    const schema = openApiSchema(
      z.object({ a: z.string() }).meta({ 'x-kubernetes-validations': [{ rule: 'true', message: 'm' }] }),
    );
    assert.deepEqual(schema['x-kubernetes-validations'], [{ rule: 'true', message: 'm' }]);
  });
});
