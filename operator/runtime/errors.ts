// Errors with a stable code, classified transient (worth retrying) or terminal. Only a
// controller's error policy decides what to do with them.
export class HooklineError extends Error {
  readonly code: string;
  readonly transient: boolean;
  constructor(code: string, message: string, options: { transient: boolean; cause?: unknown }) {
    super(message, { cause: options.cause });
    this.name = 'HooklineError';
    this.code = code;
    this.transient = options.transient;
  }
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
