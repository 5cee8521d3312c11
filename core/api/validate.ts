// Validation of objects read from the cluster against the same schemas the CRDs come from.
// A malformed object is not an exception: it becomes a message that names each field, for
// a Ready=False condition with reason InvalidSpec.
import type { z } from 'zod';

export type Validated<T> = { ok: true; value: T } | { ok: false; message: string };

/** `['spec', 'events', 0]` → `spec.events[0]`. */
export function fieldPath(path: readonly PropertyKey[]): string {
  return path
    .map((part, index) => {
      if (typeof part === 'number') return `[${part}]`;
      const key = String(part);
      const plain = /^[A-Za-z_][A-Za-z0-9_-]*$/.test(key);
      if (!plain) return `[${JSON.stringify(key)}]`;
      return index === 0 ? key : `.${key}`;
    })
    .join('');
}

export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const where = fieldPath(issue.path);
      // Messages written for rules already name their field.
      return where && !issue.message.includes(where) ? `${where}: ${issue.message}` : issue.message;
    })
    .join('; ');
}

export function validate<S extends z.ZodType>(schema: S, object: unknown): Validated<z.output<S>> {
  const result = schema.safeParse(object);
  return result.success
    ? { ok: true, value: result.data }
    : { ok: false, message: describeIssues(result.error) };
}
