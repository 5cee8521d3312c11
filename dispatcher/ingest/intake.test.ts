import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { idFromKey, intake, newEventId, renderTemplate } from './intake.ts';

const json = (value: unknown) => Buffer.from(JSON.stringify(value));
const noHeaders = () => undefined;

describe('intake', () => {
  it('takes the type from the default template {/type}', () => {
    const result = intake({
      body: json({ type: 'quote_created' }),
      maxEventBytes: 1024,
      rule: undefined,
      header: noHeaders,
    });
    assert.deepEqual(result, { ok: true, json: { type: 'quote_created' }, type: 'quote_created' });
  });

  it('renders a template of several pointers', () => {
    const result = intake({
      body: json({ objectType: 'app', action: 'created' }),
      maxEventBytes: 1024,
      rule: { template: '{/objectType}.{/action}' },
      header: noHeaders,
    });
    assert.equal(result.ok && result.type, 'app.created');
  });

  it('takes the type from a header when the rule says so', () => {
    const headers: Record<string, string> = { type: 'transaction_created' };
    const result = intake({
      body: json({}),
      maxEventBytes: 1024,
      rule: { header: 'type' },
      header: (n) => headers[n],
    });
    assert.equal(result.ok && result.type, 'transaction_created');
  });

  it('lets an explicit type win over the rule', () => {
    const result = intake({
      body: json({ type: 'a' }),
      maxEventBytes: 1024,
      rule: undefined,
      header: noHeaders,
      explicitType: 'b.c',
    });
    assert.equal(result.ok && result.type, 'b.c');
  });

  const refusals: [string, Parameters<typeof intake>[0], string, RegExp][] = [
    [
      'too large',
      { body: Buffer.alloc(2048, 'x'), maxEventBytes: 1024, rule: undefined, header: noHeaders },
      'too-large',
      /2048 bytes is larger than maxEventBytes \(1024\)/,
    ],
    [
      'not JSON',
      { body: Buffer.from('not json'), maxEventBytes: 1024, rule: undefined, header: noHeaders },
      'not-json',
      /not valid JSON/,
    ],
    [
      'bytes that are not UTF-8 (which decoding would turn into U+FFFD)',
      {
        body: Buffer.from('{"type":"a","name":"caf\xe9"}', 'latin1'),
        maxEventBytes: 1024,
        rule: undefined,
        header: noHeaders,
      },
      'not-json',
      /^event is not valid UTF-8$/,
    ],
    [
      'no type field',
      { body: json({ id: 1 }), maxEventBytes: 1024, rule: undefined, header: noHeaders },
      'no-type',
      /\/type is missing/,
    ],
    [
      'type is an object',
      { body: json({ type: { a: 1 } }), maxEventBytes: 1024, rule: undefined, header: noHeaders },
      'no-type',
      /\/type is missing or not a string/,
    ],
    [
      'empty type',
      { body: json({ type: '' }), maxEventBytes: 1024, rule: undefined, header: noHeaders },
      'no-type',
      /is empty/,
    ],
    [
      'header missing',
      { body: json({}), maxEventBytes: 1024, rule: { header: 'type' }, header: noHeaders },
      'no-type',
      /header "type" is missing/,
    ],
    [
      'type too long',
      { body: json({ type: 'x'.repeat(300) }), maxEventBytes: 1024, rule: undefined, header: noHeaders },
      'no-type',
      /longer than 255 bytes/,
    ],
  ];
  for (const [name, input, kind, reason] of refusals) {
    it(`refuses ${name}`, () => {
      const result = intake(input);
      assert.equal(result.ok, false);
      if (result.ok) return;
      assert.equal(result.kind, kind);
      assert.match(result.reason, reason);
    });
  }
});

describe('renderTemplate', () => {
  it('renders numbers and booleans', () =>
    assert.deepEqual(renderTemplate('{/a}-{/b}', { a: 1, b: true }), { ok: true, value: '1-true' }));
  it('names the first missing pointer', () =>
    assert.deepEqual(renderTemplate('{/a}.{/b}', { a: 'x' }), {
      ok: false,
      reason: 'event type: /b is missing or not a string, number or boolean',
    }));
});

describe('intake of deeply nested JSON', () => {
  it('refuses an event nested deeper than 128 levels, naming why', () => {
    const result = intake({
      body: Buffer.from('{"type":"t","d":' + '['.repeat(100_000) + ']'.repeat(100_000) + '}'),
      maxEventBytes: 1_000_000,
      rule: undefined,
      header: () => undefined,
    });
    assert.deepEqual(result, {
      ok: false,
      kind: 'not-json',
      reason: 'event nests deeper than 128 levels of objects and arrays',
    });
  });
});

describe('idFromKey', () => {
  it('is stable for a key and differs across keys and scopes', () => {
    assert.equal(idFromKey('ns/s', 'k1'), idFromKey('ns/s', 'k1'));
    assert.notEqual(idFromKey('ns/s', 'k1'), idFromKey('ns/s', 'k2'));
    assert.notEqual(idFromKey('ns/s', 'k1'), idFromKey('ns/t', 'k1'));
    assert.match(idFromKey('ns/s', 'k1'), /^evt_[A-Za-z0-9_-]{27}$/);
  });

  it('draws a fresh id of 128 random bits each time, across refills of its pool', () => {
    const ids = Array.from({ length: 1000 }, () => newEventId());
    for (const id of ids) assert.match(id, /^evt_[A-Za-z0-9_-]{22}$/);
    assert.equal(new Set(ids).size, ids.length);
  });
});
