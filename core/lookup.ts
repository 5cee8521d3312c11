// The answer of a lookup that can fail: the value, or the condition reason and a message
// saying precisely what is missing.
export type Lookup<T> = { ok: true; value: T } | { ok: false; reason: string; message: string };
