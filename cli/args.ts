// The command line of `kubectl hookline`: a command, its arguments, and flags in kubectl's
// forms (-n ns, --namespace=ns, -o json, --kubeconfig, --context), anywhere on the line.
// Pure: what a flag means is checked here, with an error that names the flag.
import { parseArgs } from 'node:util';
import { parseDuration } from '../core/api/v1alpha1/duration.ts';

export const COMMANDS = ['status', 'attempts', 'reenable', 'replay', 'send-test'] as const;
export type Command = (typeof COMMANDS)[number];

export type Output = 'table' | 'json';

export interface Invocation {
  command: Command | undefined;
  /** The positional arguments after the command. */
  args: string[];
  help: boolean;
  namespace?: string;
  kubeconfig?: string;
  context?: string;
  output: Output;
  allNamespaces: boolean;
  /** How long to wait for the answer (ms); 0 with --no-wait. */
  waitMs: number;
  since?: Date;
  until?: Date;
}

/** A command line that cannot be run as given; the CLI exits with 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  readonly command: Command | undefined;
  constructor(message: string, command?: Command) {
    super(message);
    this.command = command;
  }
}

const OPTIONS = {
  namespace: { type: 'string', short: 'n' },
  kubeconfig: { type: 'string' },
  context: { type: 'string' },
  output: { type: 'string', short: 'o' },
  'all-namespaces': { type: 'boolean', short: 'A' },
  wait: { type: 'string' },
  'no-wait': { type: 'boolean' },
  since: { type: 'string' },
  until: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Flag = keyof typeof OPTIONS;

const COMMON: readonly Flag[] = ['namespace', 'kubeconfig', 'context', 'output', 'help'];

/** The flags each command takes besides the common ones, and how many arguments. */
const SHAPES: Record<Command, { flags: readonly Flag[]; args: readonly string[] }> = {
  status: { flags: ['all-namespaces'], args: [] },
  attempts: { flags: [], args: ['webhook'] },
  reenable: { flags: ['wait', 'no-wait'], args: ['webhook'] },
  replay: { flags: ['wait', 'no-wait', 'since', 'until'], args: ['webhook'] },
  'send-test': { flags: ['wait', 'no-wait'], args: ['webhook'] },
};

export const DEFAULT_WAIT_MS = 30_000;

function isCommand(word: string | undefined): word is Command {
  return (COMMANDS as readonly string[]).includes(word ?? '');
}

/**
 * A duration such as 90s, 15m, 1h30m or 7d (days may lead: 1d12h), in milliseconds; what
 * kubectl and the CRDs call a duration, plus days.
 */
export function parseRelative(text: string): number | undefined {
  const match = /^(?:(\d+)d)?(.*)$/.exec(text.trim());
  if (!match) return undefined;
  const days = Number(match[1] ?? 0) * 86_400_000;
  const rest = match[2] ?? '';
  if (rest === '') return match[1] !== undefined ? days : undefined;
  const ms = parseDuration(rest);
  return ms === undefined ? undefined : days + ms;
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** --since/--until: an RFC 3339 time, or a duration meaning that long before `now`. */
export function parseTime(flag: string, text: string, now: Date): Date {
  const trimmed = text.trim();
  if (RFC3339.test(trimmed)) {
    const at = new Date(trimmed.replace(' ', 'T'));
    if (!Number.isNaN(at.getTime())) return at;
  }
  const ago = parseRelative(trimmed);
  if (ago !== undefined) return new Date(now.getTime() - ago);
  throw new UsageError(
    `--${flag}: "${text}" is neither an RFC 3339 time (2026-12-02T10:00:00Z) nor a duration (30m, 1h, 2d)`,
    'replay',
  );
}

function parseWait(text: string | undefined, noWait: boolean | undefined, command: Command): number {
  if (noWait) return 0;
  if (text === undefined) return DEFAULT_WAIT_MS;
  const ms = text.trim() === '0' ? 0 : parseRelative(text);
  if (ms === undefined)
    throw new UsageError(`--wait: "${text}" is not a duration such as 30s or 2m`, command);
  return ms;
}

function parseOutput(text: string | undefined, command: Command | undefined): Output {
  if (text === undefined || text === 'table') return 'table';
  if (text === 'json') return 'json';
  throw new UsageError(`--output: "${text}" is not one of table, json`, command);
}

function tokenize(argv: readonly string[]) {
  try {
    return parseArgs({
      args: [...argv],
      options: OPTIONS,
      allowPositionals: true,
      strict: true,
      tokens: true,
    });
  } catch (error) {
    const first = argv.find((word) => !word.startsWith('-'));
    throw new UsageError((error as Error).message, isCommand(first) ? first : undefined);
  }
}

/** Reads a command line; throws a UsageError that says what is wrong with it. */
export function parseInvocation(argv: readonly string[], now: Date): Invocation {
  const parsed = tokenize(argv);
  const { values, positionals, tokens } = parsed;
  const [word, ...args] = positionals;
  if (word !== undefined && !isCommand(word)) throw new UsageError(`unknown command "${word}"`);
  const command = word;
  const help = values.help === true;
  if (command && !help) {
    const shape = SHAPES[command];
    const allowed = new Set<string>([...COMMON, ...shape.flags]);
    for (const token of tokens) {
      if (token.kind === 'option' && !allowed.has(token.name))
        throw new UsageError(`${command} does not take ${token.rawName}`, command);
    }
    if (args.length !== shape.args.length) {
      const wanted = shape.args.length === 0 ? 'no arguments' : shape.args.map((a) => `<${a}>`).join(' ');
      throw new UsageError(
        args.length < shape.args.length
          ? `${command} needs ${wanted}`
          : `${command} takes ${wanted}; got ${args.map((a) => `"${a}"`).join(' ')}`,
        command,
      );
    }
  }
  const invocation: Invocation = {
    command,
    args,
    help,
    output: parseOutput(values.output, command),
    allNamespaces: values['all-namespaces'] === true,
    waitMs: command ? parseWait(values.wait, values['no-wait'], command) : DEFAULT_WAIT_MS,
    ...(values.namespace !== undefined ? { namespace: values.namespace } : {}),
    ...(values.kubeconfig !== undefined ? { kubeconfig: values.kubeconfig } : {}),
    ...(values.context !== undefined ? { context: values.context } : {}),
    ...(values.since !== undefined ? { since: parseTime('since', values.since, now) } : {}),
    ...(values.until !== undefined ? { until: parseTime('until', values.until, now) } : {}),
  };
  if (invocation.since && invocation.until && invocation.since >= invocation.until)
    throw new UsageError(
      `--since (${invocation.since.toISOString()}) must be before --until (${invocation.until.toISOString()})`,
      'replay',
    );
  return invocation;
}
