// Settings of a Hookline process from flags, then environment variables, validated by a
// zod schema, with errors that name the flag and the variable but never echo a value
// (a broker URI holds a password).
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { brokerUriProblem } from './rabbit/connection.ts';

/** A comma-separated list. */
export const commaList = z
  .string()
  .default('')
  .transform((v) =>
    v
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  );

export const booleanText = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

/** A broker's AMQP URI, or the URIs of a RabbitMQ cluster's nodes separated by commas. */
export const brokerUri = z.string().superRefine((value, ctx) => {
  const problem = brokerUriProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

export const logLevel = z.enum(['trace', 'debug', 'info', 'warn', 'error']).default('info');

const camel = (flag: string) => flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/**
 * Reads `--flag value` or the flag's environment variable for every entry of `variables`
 * (flag → variable), plus `defaults`, and validates them with `schema`, whose keys are the
 * camel-cased flags.
 */
export function loadSettings<S extends z.ZodType>(
  what: string,
  schema: S,
  variables: Record<string, string>,
  argv: string[],
  env: NodeJS.ProcessEnv,
  defaults: Record<string, unknown> = {},
): z.output<S> {
  const { values } = parseArgs({
    args: argv,
    options: Object.fromEntries(Object.keys(variables).map((flag) => [flag, { type: 'string' as const }])),
    strict: true,
  });
  const raw: Record<string, unknown> = { ...defaults };
  for (const [flag, variable] of Object.entries(variables)) {
    const value = (values as Record<string, string | undefined>)[flag] ?? env[variable];
    if (value !== undefined && value !== '') raw[camel(flag)] = value;
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const key = String(issue.path[0] ?? '');
      const flag = Object.keys(variables).find((f) => camel(f) === key);
      return `--${flag ?? key} (${flag ? variables[flag] : ''}): ${issue.message}`;
    });
    throw new Error(`invalid ${what} settings:\n  ${problems.join('\n  ')}`);
  }
  return parsed.data;
}
