// Errors with a stable code. Each code is declared once below with its class (transient:
// worth retrying; terminal: not until something changes) and the condition reason it is
// reported with, so that no caller guesses a reason from a code. Only a controller's error
// policy decides what to do with them.

export const ERROR_CODES = {
  BrokerUnreachable: { transient: true, reason: 'BrokerUnreachable' },
  BrokerRefused: { transient: true, reason: 'BrokerRefused' },
  BrokerUnroutable: { transient: true, reason: 'BrokerRefused' },
  BrokerExchangeMissing: { transient: true, reason: 'ExchangeNotFound' },
  BrokerExchangeMismatch: { transient: true, reason: 'ExchangeMismatch' },
  BrokerUnknown: { transient: true, reason: 'BrokerUnreachable' },
  BrokerManagementUnreachable: { transient: true, reason: 'BrokerManagementUnreachable' },
  BrokerManagementRefused: { transient: true, reason: 'BrokerManagementRefused' },
  KubeApiUnreachable: { transient: true, reason: 'KubeApiUnreachable' },
  KubeApiRetryable: { transient: true, reason: 'KubeApiUnavailable' },
  KubeApiRefused: { transient: false, reason: 'KubeApiRefused' },
  SigningKeyInvalid: { transient: false, reason: 'SecretInvalid' },
  NoCluster: { transient: false, reason: 'NoCluster' },
  FinalizerConflict: { transient: true, reason: 'FinalizerConflict' },
} as const satisfies Record<string, { transient: boolean; reason: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export class HooklineError extends Error {
  /** An `ErrorCode`, or the reason of a condition already reported (see `reportedCondition`). */
  readonly code: string;
  readonly transient: boolean;
  /** The condition reason this error is reported with. */
  readonly reason: string;
  /** Already told to the user (a condition in status): a retry is expected, not an incident. */
  readonly reported: boolean;

  constructor(code: ErrorCode, message: string, cause?: unknown);
  constructor(
    code: string,
    message: string,
    cause: unknown,
    reported: { reason: string; transient: boolean },
  );
  constructor(
    code: string,
    message: string,
    cause?: unknown,
    reported?: { reason: string; transient: boolean },
  ) {
    super(message, { cause });
    this.name = 'HooklineError';
    const declared = reported ?? ERROR_CODES[code as ErrorCode];
    this.code = code;
    this.transient = declared.transient;
    this.reason = declared.reason;
    this.reported = reported !== undefined;
  }
}

/** A transient condition already written to the object's status, retried with backoff. */
export function reportedCondition(reason: string, message: string): HooklineError {
  return new HooklineError(reason, message, undefined, { reason, transient: true });
}

export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return typeof error === 'string' ? error : JSON.stringify(error);
}

/** Anything thrown: transient unless it says otherwise. */
export function isTransient(error: unknown): boolean {
  return !(error instanceof HooklineError) || error.transient;
}
