// Errors with a stable code, classified transient (worth retrying) or terminal. Only a
// controller's error policy decides what to do with them.
export class HooklineError extends Error {
  readonly code: string;
  readonly transient: boolean;
  /** Already told to the user (a condition in status): a retry is expected, not an incident. */
  readonly reported: boolean;
  constructor(
    code: string,
    message: string,
    options: { transient: boolean; cause?: unknown; reported?: boolean },
  ) {
    super(message, { cause: options.cause });
    this.name = 'HooklineError';
    this.code = code;
    this.transient = options.transient;
    this.reported = options.reported ?? false;
  }
}

/** A transient condition already written to the object's status, retried with backoff. */
export function reportedCondition(code: string, message: string): HooklineError {
  return new HooklineError(code, message, { transient: true, reported: true });
}

export function transient(code: string, message: string, cause?: unknown): HooklineError {
  return new HooklineError(code, message, { transient: true, cause });
}

export function terminal(code: string, message: string, cause?: unknown): HooklineError {
  return new HooklineError(code, message, { transient: false, cause });
}

export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return typeof error === 'string' ? error : JSON.stringify(error);
}

/** Anything thrown: transient unless it says otherwise. */
export function isTransient(error: unknown): boolean {
  return !(error instanceof HooklineError) || error.transient;
}
