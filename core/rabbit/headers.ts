// The headers Hookline puts on the messages it moves between queues: written by the
// dispatcher's worker, read back by it on the next attempt, reset by the operator on replay.
export const HEADER = {
  eventId: 'x-hookline-event-id',
  eventType: 'x-hookline-event-type',
  attempt: 'x-hookline-attempt',
  firstSeen: 'x-hookline-first-seen',
  reason: 'x-hookline-reason',
  deadLetteredAt: 'x-hookline-dead-lettered-at',
  /** Strict ordering: when the event waiting in the head queue is due again (epoch ms). */
  dueAt: 'x-hookline-due-at',
} as const;

/** What a replay drops: the event keeps its id and type, and starts its attempts again. */
export const REPLAY_RESETS: readonly string[] = [
  HEADER.attempt,
  HEADER.reason,
  HEADER.deadLetteredAt,
  HEADER.dueAt,
];
