// The events the ingest benchmarks send: shaped like the Anchor Platform's (SEP-24
// transaction events), about 600 bytes, typed by turn.

export const EVENT_TYPES = ['transaction_created', 'transaction_status_changed', 'quote_created'] as const;

/** The `n`th event, with id `id`; `pad` characters of message bring it to the size wanted. */
export function anchorEvent(id: string, n: number, pad: number): { type: string; json: string } {
  const type = EVENT_TYPES[n % EVENT_TYPES.length]!;
  const event = {
    type,
    id,
    sep: '24',
    transaction: {
      id: `tx-${id}`,
      sep: '24',
      kind: 'deposit',
      status: 'pending_anchor',
      amount_in: {
        amount: '125.50',
        asset: 'stellar:USDC:GA5ZSEJYB37JRC5AVCIA5MOP4RHTM335X2KGX3IHOJAPP5RE34K4KZVN',
      },
      started_at: '2026-11-23T10:00:00Z',
      message: 'x'.repeat(pad),
    },
  };
  return { type, json: JSON.stringify(event) };
}
