import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readTraceContext, traceContextOf, traceHeaders, traceIdOf } from './context.ts';

const PARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

describe('readTraceContext', () => {
  const cases: { name: string; headers: Record<string, unknown>; want: unknown }[] = [
    { name: 'none', headers: {}, want: undefined },
    { name: 'a traceparent', headers: { traceparent: PARENT }, want: { traceparent: PARENT } },
    {
      name: 'with its tracestate',
      headers: { traceparent: PARENT, tracestate: 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE' },
      want: { traceparent: PARENT, tracestate: 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE' },
    },
    {
      name: 'AMQP byte arrays',
      headers: { traceparent: Buffer.from(PARENT), tracestate: Buffer.from('a=b') },
      want: { traceparent: PARENT, tracestate: 'a=b' },
    },
    { name: 'surrounding space', headers: { traceparent: ` ${PARENT} ` }, want: { traceparent: PARENT } },
    {
      name: 'a later version, passed on as it is',
      headers: { traceparent: `01${PARENT.slice(2)}-future` },
      want: { traceparent: `01${PARENT.slice(2)}-future` },
    },
    { name: 'not a traceparent', headers: { traceparent: 'hello' }, want: undefined },
    {
      name: 'a zero trace id',
      headers: { traceparent: '00-00000000000000000000000000000000-00f067aa0ba902b7-01' },
      want: undefined,
    },
    {
      name: 'a zero parent id',
      headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01' },
      want: undefined,
    },
    { name: 'two traceparents joined', headers: { traceparent: `${PARENT}, ${PARENT}` }, want: undefined },
    { name: 'a tracestate alone', headers: { tracestate: 'a=b' }, want: undefined },
    {
      name: 'a tracestate that cannot be a header value',
      headers: { traceparent: PARENT, tracestate: 'a=b\r\nx-injected: 1' },
      want: { traceparent: PARENT },
    },
    {
      name: 'a tracestate longer than 512 characters',
      headers: { traceparent: PARENT, tracestate: `a=${'x'.repeat(600)}` },
      want: { traceparent: PARENT },
    },
    { name: 'a number', headers: { traceparent: 7 }, want: undefined },
  ];
  for (const { name, headers, want } of cases) {
    it(name, () => {
      assert.deepEqual(
        readTraceContext((key) => headers[key]),
        want,
      );
      assert.deepEqual(traceContextOf(headers), want);
    });
  }

  it('reads no headers table that is not there', () => {
    assert.equal(traceContextOf(undefined), undefined);
  });
});

describe('traceHeaders', () => {
  it('writes traceparent, and tracestate only when there is one', () => {
    assert.deepEqual(traceHeaders({ traceparent: PARENT }), { traceparent: PARENT });
    assert.deepEqual(traceHeaders({ traceparent: PARENT, tracestate: 'a=b' }), {
      traceparent: PARENT,
      tracestate: 'a=b',
    });
  });

  it('names the trace id of a traceparent', () => {
    assert.equal(traceIdOf(PARENT), '4bf92f3577b34da6a3ce929d0e0e4736');
    assert.equal(traceIdOf('nonsense'), undefined);
  });
});
