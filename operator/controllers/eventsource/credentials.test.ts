import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chooseCredential } from './credentials.ts';

describe('chooseCredential', () => {
  const brokerUri = 'amqp://admin:admin@rabbit:5672/';
  const user = 'hookline~shop~anchor';
  const held = `amqp://${encodeURIComponent(user)}:kept@rabbit:5672/`;
  const base: Parameters<typeof chooseCredential>[0] = {
    brokerUri,
    user,
    held,
    rotation: undefined,
    lastRotation: undefined,
    newPassword: () => 'new',
  };
  const cases: [string, Partial<typeof base>, { password: string; rotated: boolean }][] = [
    ['keeps the password the Secret holds', {}, { password: 'kept', rotated: false }],
    ['makes one when there is no Secret yet', { held: undefined }, { password: 'new', rotated: false }],
    [
      "replaces the operator's own credential an older version copied into the Secret",
      { held: 'amqp://admin:admin@rabbit:5672/' },
      { password: 'new', rotated: false },
    ],
    [
      'replaces a credential for another broker',
      { held: `amqp://${encodeURIComponent(user)}:kept@elsewhere:5672/` },
      { password: 'new', rotated: false },
    ],
    ['rotates on a new annotation value', { rotation: '2026-12-07' }, { password: 'new', rotated: true }],
    [
      'does not rotate again for a value already carried out',
      { rotation: '2026-12-07', lastRotation: '2026-12-07' },
      { password: 'kept', rotated: false },
    ],
    [
      'rotates when the value changes once more',
      { rotation: 'again', lastRotation: '2026-12-07' },
      { password: 'new', rotated: true },
    ],
  ];
  for (const [name, input, expected] of cases)
    it(name, () => assert.deepEqual(chooseCredential({ ...base, ...input }), expected));
});
