// Cross-field rules, written once and enforced twice: as CEL (`x-kubernetes-validations`)
// by the API server at apply time, and by zod when the operator and the dispatcher read an
// object back from the cluster (objects stored before a rule existed, or edited around it).
import { z } from 'zod';

export interface CelValidation {
  rule: string;
  message: string;
  /** Where the API server reports the error, relative to the node carrying the rule (e.g. `.rabbitmq`). */
  fieldPath?: string;
  reason?: 'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate';
}

export interface Rule<T> extends CelValidation {
  /** The same rule in TypeScript: true when the value is valid. */
  check: (value: T) => boolean;
}

function issuePath(fieldPath: string | undefined): string[] {
  return fieldPath ? fieldPath.split('.').filter(Boolean) : [];
}

/** Attaches rules to a schema: zod checks them at parse time, the CRD generator emits them as CEL. */
export function withRules<S extends z.ZodType>(schema: S, rules: readonly Rule<z.output<S>>[]): S {
  const checked = schema.superRefine((value, context) => {
    for (const rule of rules) {
      if (!rule.check(value)) {
        context.addIssue({ code: 'custom', message: rule.message, path: issuePath(rule.fieldPath) });
      }
    }
  });
  const inherited = (z.globalRegistry.get(schema) ?? {}) as Record<string, unknown>;
  const validations: CelValidation[] = rules.map(({ rule, message, fieldPath, reason }) => ({
    rule,
    message,
    ...(fieldPath ? { fieldPath } : {}),
    ...(reason ? { reason } : {}),
  }));
  return checked.meta({ ...inherited, 'x-kubernetes-validations': validations });
}
