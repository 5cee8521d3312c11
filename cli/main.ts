// `kubectl hookline` (and `hookline status|attempts|reenable|replay|send-test`): what an SRE
// asks of Hookline's Webhooks from a terminal. Exit codes: 0 done, 1 failed (not found, no
// answer in time, a test event the receiver refused), 2 a command line that cannot be run.
import { errorMessage } from '../core/errors.ts';
import { KubeApiError } from '../core/kube/client.ts';
import { parseInvocation, UsageError, type Command, type Invocation } from './args.ts';
import { attemptsOf, attemptsTable } from './attempts.ts';
import { CliError, connect, getWebhook, listWebhooks, type Cluster } from './kube.ts';
import { reenable, replay, sendTest, type Io } from './requests.ts';
import { statusTable, summarize } from './status.ts';

const COMMON_FLAGS = `Flags of every command:
  -n, --namespace <ns>   the namespace (default: the context's, else "default")
      --kubeconfig <f>   the kubeconfig (default: $KUBECONFIG, else ~/.kube/config)
      --context <name>   the kubeconfig context (default: the current one)
  -o, --output <fmt>     table (default) or json
  -h, --help             this help`;

const WAIT_FLAGS = `      --wait <dur>       how long to wait for the answer (default 30s)
      --no-wait          set the annotation and return`;

export const HELP: Record<Command | 'main', string> = {
  main: `kubectl hookline: Hookline's Webhooks from a terminal.

Commands:
  status                 every Webhook of the namespace: ready, disabled, circuit, backlog, rate, last error
  attempts <webhook>     the Webhook's latest delivery attempts, newest first
  reenable <webhook>     deliver again to a Webhook disabled after its retries ran out
  replay <webhook>       move dead-lettered events back to the queue (--since, --until)
  send-test <webhook>    send one synthetic event (type hookline.test) and print the answer

Run "kubectl hookline <command> --help" for a command's flags.

${COMMON_FLAGS}
`,
  status: `kubectl hookline status [-n <ns> | -A] [-o table|json]

Every Webhook of the namespace, one a line: READY (and the REASON when not), DISABLED,
CIRCUIT, WAITING and DEAD (events in the queue and the dead-letter queue, as the dispatcher
last sampled them), RATE (delivered in the last minute), DELIVERED, FAILED, LAST-STATUS,
LAST-ERROR (cut; -o json has it whole) and LAST-ATTEMPT (its age). "-" is not known yet.

  -A, --all-namespaces   every namespace
${COMMON_FLAGS}
`,
  attempts: `kubectl hookline attempts <webhook> [-o table|json]

The Webhook's activation history (status.recentAttempts, at most 20, newest first): TIME,
EVENT id, TYPE, ATTEMPT number, OUTCOME, STATUS, DURATION, RETRY-AFTER and ERROR (or the
start of the response body).

${COMMON_FLAGS}
`,
  reenable: `kubectl hookline reenable <webhook> [--wait 30s | --no-wait]

Sets hookline.dev/reenable to a fresh token; the operator clears the disabled state and the
dispatcher delivers again. Waits until the operator has acted on the token.

${WAIT_FLAGS}
${COMMON_FLAGS}
`,
  replay: `kubectl hookline replay <webhook> [--since <time>] [--until <time>] [--wait 30s | --no-wait]

Sets hookline.dev/replay to a fresh token (and hookline.dev/replay-since/-until): the operator
moves the events dead-lettered in [since, until) back to the Webhook's queue, with their ids
and full retries; the others stay in the dead-letter queue. Without --since and --until,
every dead-lettered event moves. Prints how many moved, from the operator's Event.

      --since <time>     an RFC 3339 time (2026-12-02T10:00:00Z), or a duration before now (30m, 2h, 1d)
      --until <time>     the same; events dead-lettered at or after it stay
${WAIT_FLAGS}
${COMMON_FLAGS}
`,
  'send-test': `kubectl hookline send-test <webhook> [--wait 30s | --no-wait]

Sets hookline.dev/send-test to a fresh token; the Webhook's dispatcher sends one synthetic
event (type hookline.test, id test-<token>, body {"type":"hookline.test","webhook":...,
"token":...}) signed and authenticated like any delivery, without queue or retries, and
writes the answer to status.lastTest. Prints the status, duration and body; exits 1 when the
receiver did not accept it.

${WAIT_FLAGS}
${COMMON_FLAGS}
`,
};

async function run(invocation: Invocation, io: Io): Promise<number> {
  const cluster: Cluster = connect(invocation);
  switch (invocation.command) {
    case 'status': {
      const summaries = (await listWebhooks(cluster, invocation.allNamespaces)).map(summarize);
      if (invocation.output === 'json') io.stdout.write(`${JSON.stringify(summaries, null, 2)}\n`);
      else if (summaries.length === 0)
        io.stderr.write(
          invocation.allNamespaces
            ? 'No Webhooks found.\n'
            : `No Webhooks found in namespace ${cluster.namespace}.\n`,
        );
      else io.stdout.write(statusTable(summaries, io.now(), invocation.allNamespaces));
      return 0;
    }
    case 'attempts': {
      const attempts = attemptsOf(await getWebhook(cluster, invocation.args[0]!));
      if (invocation.output === 'json') io.stdout.write(`${JSON.stringify(attempts, null, 2)}\n`);
      else if (attempts.length === 0)
        io.stderr.write(`webhook/${invocation.args[0]} has made no attempts yet.\n`);
      else io.stdout.write(attemptsTable(attempts));
      return 0;
    }
    case 'reenable':
      return reenable(cluster, invocation, io);
    case 'replay':
      return replay(cluster, invocation, io);
    case 'send-test':
      return sendTest(cluster, invocation, io);
    case undefined:
      io.stderr.write(HELP.main);
      return 2;
  }
}

/** Runs one command line; answers the exit code. */
export async function runCli(argv: readonly string[], io: Io): Promise<number> {
  let invocation: Invocation;
  try {
    invocation = parseInvocation(argv, io.now());
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.stderr.write(`error: ${error.message}\n\n${HELP[error.command ?? 'main']}`);
    return 2;
  }
  if (invocation.help) {
    io.stdout.write(HELP[invocation.command ?? 'main']);
    return 0;
  }
  try {
    return await run(invocation, io);
  } catch (error) {
    if (error instanceof CliError || error instanceof KubeApiError)
      io.stderr.write(`error: ${error.message}\n`);
    else io.stderr.write(`error: ${errorMessage(error)}\n`);
    return 1;
  }
}

/** The process's own streams and clock. */
export function processIo(): Io {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    now: () => new Date(),
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  };
}
