import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseInvocation, parseRelative, parseTime, UsageError } from './args.ts';

const NOW = new Date('2026-12-02T10:00:00Z');

describe('parseInvocation', () => {
  it('reads kubectl-style flags anywhere on the line', () => {
    const inv = parseInvocation(
      ['-n', 'shop', 'status', '-o', 'json', '--context=dev', '--kubeconfig', '/k'],
      NOW,
    );
    assert.equal(inv.command, 'status');
    assert.equal(inv.namespace, 'shop');
    assert.equal(inv.output, 'json');
    assert.equal(inv.context, 'dev');
    assert.equal(inv.kubeconfig, '/k');
    assert.equal(inv.allNamespaces, false);
  });
  it('takes --namespace=ns, -ojson and -A', () => {
    const inv = parseInvocation(['status', '--namespace=shop', '-ojson', '-A'], NOW);
    assert.equal(inv.namespace, 'shop');
    assert.equal(inv.output, 'json');
    assert.equal(inv.allNamespaces, true);
  });
  it('defaults to a table and a 30 s wait', () => {
    const inv = parseInvocation(['reenable', 'orders'], NOW);
    assert.deepEqual(inv.args, ['orders']);
    assert.equal(inv.output, 'table');
    assert.equal(inv.waitMs, 30_000);
  });
  it('reads --wait and --no-wait', () => {
    assert.equal(parseInvocation(['send-test', 'orders', '--wait', '2m'], NOW).waitMs, 120_000);
    assert.equal(parseInvocation(['send-test', 'orders', '--wait=0'], NOW).waitMs, 0);
    assert.equal(parseInvocation(['send-test', 'orders', '--no-wait'], NOW).waitMs, 0);
  });
  it('reads a replay window, absolute or relative', () => {
    const inv = parseInvocation(
      ['replay', 'orders', '--since', '1h', '--until', '2026-12-02T09:30:00+00:00'],
      NOW,
    );
    assert.equal(inv.since?.toISOString(), '2026-12-02T09:00:00.000Z');
    assert.equal(inv.until?.toISOString(), '2026-12-02T09:30:00.000Z');
  });
  it('gives help without checking the arguments', () => {
    const inv = parseInvocation(['replay', '--help'], NOW);
    assert.equal(inv.help, true);
    assert.equal(inv.command, 'replay');
    assert.equal(parseInvocation(['-h'], NOW).command, undefined);
  });

  const refused: { argv: string[]; message: RegExp; command?: string }[] = [
    { argv: ['frobnicate'], message: /^unknown command "frobnicate"$/ },
    { argv: ['attempts'], message: /^attempts needs <webhook>$/, command: 'attempts' },
    { argv: ['status', 'extra'], message: /^status takes no arguments; got "extra"$/, command: 'status' },
    { argv: ['reenable', 'a', 'b'], message: /^reenable takes <webhook>; got "a" "b"$/, command: 'reenable' },
    { argv: ['status', '--since', '1h'], message: /^status does not take --since$/, command: 'status' },
    { argv: ['attempts', 'a', '-A'], message: /^attempts does not take -A$/, command: 'attempts' },
    {
      argv: ['status', '-o', 'yaml'],
      message: /^--output: "yaml" is not one of table, json$/,
      command: 'status',
    },
    { argv: ['status', '--bogus'], message: /Unknown option '--bogus'/, command: 'status' },
    {
      argv: ['send-test', 'a', '--wait', 'soon'],
      message: /^--wait: "soon" is not a duration/,
      command: 'send-test',
    },
    {
      argv: ['replay', 'a', '--since', 'yesterday'],
      message: /^--since: "yesterday" is neither an RFC 3339 time .* nor a duration/,
      command: 'replay',
    },
    {
      argv: ['replay', 'a', '--until', '2026-12-02'],
      message: /^--until: "2026-12-02" is neither an RFC 3339 time/,
      command: 'replay',
    },
    {
      argv: ['replay', 'a', '--since', '30m', '--until', '1h'],
      message: /^--since \(2026-12-02T09:30:00.000Z\) must be before --until \(2026-12-02T09:00:00.000Z\)$/,
      command: 'replay',
    },
  ];
  for (const c of refused) {
    it(`refuses ${c.argv.join(' ')}`, () => {
      assert.throws(
        () => parseInvocation(c.argv, NOW),
        (error: unknown) =>
          error instanceof UsageError && c.message.test(error.message) && error.command === c.command,
      );
    });
  }
});

describe('parseRelative and parseTime', () => {
  const durations: [string, number | undefined][] = [
    ['90s', 90_000],
    ['15m', 900_000],
    ['1h30m', 5_400_000],
    ['2d', 172_800_000],
    ['1d12h', 129_600_000],
    ['d', undefined],
    ['1w', undefined],
    ['', undefined],
    ['-1h', undefined],
  ];
  for (const [text, ms] of durations)
    it(`"${text}" is ${ms} ms`, () => assert.equal(parseRelative(text), ms));

  it('reads RFC 3339 times with offsets and fractions', () => {
    assert.equal(
      parseTime('since', '2026-12-02T11:00:00.5+01:00', NOW).toISOString(),
      '2026-12-02T10:00:00.500Z',
    );
    assert.equal(parseTime('since', '2026-12-02 10:00:00Z', NOW).toISOString(), '2026-12-02T10:00:00.000Z');
  });
});
