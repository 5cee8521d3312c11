// `npm run local`: Hookline's main job on this machine. It brings up the local environment
// (Kubernetes control plane, RabbitMQ, Kafka), installs the CRDs, runs the operator and the
// dispatchers it creates as local processes (there is no kubelet), applies
// examples/quickstart with a bundled receiver that verifies every signature, posts a few
// events, shows `kubectl get webhooks`, and keeps running until Ctrl-C.
//
//   npm run local [-- --once] [--namespace quickstart] [--watch-namespace <ns>]
//                 [--receiver-port <port>] [--dispatcher-port <first port>]
// --once stops everything after showing the deliveries (for CI and tests).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { kubeClient, resourcePath } from '../core/kube/client.ts';
import { envConfig } from '../test/env/config.ts';
import { down, up } from '../test/env/env.ts';
import { run } from '../test/env/process.ts';
import { eventually } from '../test/fixtures/wait.ts';
import { startVerifyingReceiver } from '../examples/quickstart/receiver.ts';
import { LocalDispatchers } from './local/dispatchers.ts';

const { values } = parseArgs({
  options: {
    once: { type: 'boolean', default: false },
    namespace: { type: 'string', default: 'quickstart' },
    'watch-namespace': { type: 'string' },
    'receiver-port': { type: 'string' },
    'dispatcher-port': { type: 'string' },
  },
});
const repo = path.resolve(import.meta.dirname, '..');
// The main job runs in an environment of its own (ports from LOCAL_PORT_BASE, state in the
// cache's local/ folder), so that what the tests leave in theirs (their namespaces never
// finish deleting, there is no garbage collector) never shows up here. HOOKLINE_ENV_PORT_BASE
// and HOOKLINE_ENV_DIR move it, onto the tests' environment for example.
const LOCAL_PORT_BASE = 26000;
const config = envConfig({
  HOOKLINE_ENV_PORT_BASE: String(LOCAL_PORT_BASE),
  HOOKLINE_ENV_DIR: path.join(envConfig().cacheDir, 'local'),
  ...process.env,
});
const base = config.ports.apiServer - 443;
const namespace = values.namespace;
const watchNamespace = values['watch-namespace'];
const receiverPort = Number(values['receiver-port'] ?? base + 80);
const firstDispatcherPort = Number(values['dispatcher-port'] ?? base + 100);
const TOKEN = 'quickstart-token';
/** The first run of the operator and dispatchers may be slow; a minute per step. */
const WAIT = { timeoutMs: 60_000, intervalMs: 250 };

const step = (message: string) => console.log(`• ${message}`);
step('Bringing up the local environment (the first run builds and downloads; later runs reuse it)');
const { info, started, timings } = await up(config);
const kubectl = (...args: string[]) =>
  run(info.kubectl, ['--kubeconfig', info.kubeconfig, ...args], { timeoutMs: 60_000 });
const kubeConfig = new k8s.KubeConfig();
kubeConfig.loadFromFile(info.kubeconfig);
const client = kubeClient(kubeConfig, { fieldManager: 'hookline-local' });

step('Installing the CRDs');
await kubectl('apply', '--server-side', '-f', path.join(repo, 'crds'));
await kubectl(
  'wait',
  '--for=condition=Established',
  '--timeout=60s',
  'crd/webhooks.hookline.dev',
  'crd/eventsources.hookline.dev',
  'crd/callbackpolicies.hookline.dev',
);
const operatorNamespace = watchNamespace ?? 'hookline-system';
for (const ns of new Set([operatorNamespace, namespace]))
  await kubectl('create', 'namespace', ns).catch(() => undefined);

step('Starting the operator');
const logDir = path.join(info.stateDir, 'local');
fs.mkdirSync(logDir, { recursive: true });
const operatorLog = path.join(logDir, 'operator.log');
const operatorOut = fs.openSync(operatorLog, 'a');
const operator = spawn(process.execPath, [path.join(repo, 'hookline.ts'), 'operator'], {
  env: {
    ...process.env,
    KUBECONFIG: info.kubeconfig,
    HOOKLINE_NAMESPACE: operatorNamespace,
    ...(watchNamespace ? { HOOKLINE_WATCH_NAMESPACE: watchNamespace } : {}),
    HOOKLINE_DEFAULT_BROKER_URI: info.rabbitmq.amqpUrl,
    // Where the operator creates each dispatcher's own broker user.
    HOOKLINE_DEFAULT_BROKER_MANAGEMENT_URI: withCredentials(
      info.rabbitmq.managementUrl,
      info.rabbitmq.user,
      info.rabbitmq.password,
    ),
    // The quickstart's receiver is on loopback over plain http.
    HOOKLINE_ALLOWED_CIDRS: '127.0.0.0/8',
    HOOKLINE_ALLOW_HTTP_URLS: 'true',
    HOOKLINE_METRICS_PORT: '0',
    HOOKLINE_PROBES_PORT: '0',
  },
  stdio: ['ignore', operatorOut, operatorOut],
});
fs.closeSync(operatorOut);

const dispatchers = new LocalDispatchers({
  client,
  kubeconfig: info.kubeconfig,
  logDir,
  ports: { first: firstDispatcherPort, count: 100 },
  ...(watchNamespace ? { namespace: watchNamespace } : {}),
  onChange: (event, d) =>
    step(`Dispatcher ${d.namespace}/${d.source} ${event} (port ${d.port}, log ${path.basename(d.log)})`),
});
dispatchers.start();

const receiver = await startVerifyingReceiver({ port: receiverPort });
step(`Verifying receiver listening on http://127.0.0.1:${receiver.port}`);

let stopping = false;
async function stopAll(): Promise<void> {
  if (stopping) return;
  stopping = true;
  console.log('\nStopping…');
  await dispatchers.stop();
  if (operator.exitCode === null) {
    operator.kill('SIGTERM');
    await new Promise((resolve) => operator.once('exit', resolve));
  }
  await receiver.close();
  await down(config, started);
}
process.once('SIGINT', () => void stopAll().then(() => process.exit(0)));
process.once('SIGTERM', () => void stopAll().then(() => process.exit(0)));

try {
  step(`Applying examples/quickstart in namespace ${namespace}`);
  const manifest = fs
    .readFileSync(path.join(repo, 'examples/quickstart/hookline.yaml'), 'utf8')
    .replaceAll('http://127.0.0.1:24080/', `http://127.0.0.1:${receiver.port}/`);
  await run(info.kubectl, ['--kubeconfig', info.kubeconfig, 'apply', '-n', namespace, '-f', '-'], {
    input: manifest,
    timeoutMs: 60_000,
  });

  const webhookPath = (name: string) =>
    resourcePath({ group: 'hookline.dev', version: 'v1alpha1', plural: 'webhooks', namespace, name });
  for (const name of ['orders', 'audit']) {
    await eventually(
      `Webhook ${name} to be Ready`,
      async () => {
        const hook = await client.get<{ status?: { conditions?: { type: string; status: string }[] } }>(
          webhookPath(name),
        );
        return hook.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
      },
      WAIT,
    );
  }
  const secretEntry = async (name: string, key: string) => {
    const secret = await client.get<{ data?: Record<string, string> }>(
      resourcePath({ group: '', version: 'v1', plural: 'secrets', namespace, name }),
    );
    const value = secret.data?.[key];
    return value === undefined ? undefined : Buffer.from(value, 'base64').toString('utf8');
  };
  const ordersKey = await eventually(
    'the generated signing Secret orders-signing',
    () => secretEntry('orders-signing', 'secret'),
    WAIT,
  );
  receiver.setKey('/hooks/orders', { scheme: 'standard-webhooks', key: ordersKey });
  receiver.setKey('/hooks/audit', {
    scheme: 'hmac-sha256',
    key: (await secretEntry('audit-hmac', 'secret')) ?? '',
  });

  const port = await eventually(
    'the dispatcher of EventSource shop',
    async () => {
      const found = dispatchers.port(namespace, 'shop');
      return found !== undefined && (await fetch(`http://127.0.0.1:${found}/readyz`)).ok && found;
    },
    WAIT,
  );
  const endpoint = `http://127.0.0.1:${port}/v1/events`;
  step(`Posting events to ${endpoint}`);
  const before = receiver.deliveries.length;
  const events = [
    { type: 'order.created', order: { id: 'ord_1001', total: 42.5, currency: 'EUR' } },
    { type: 'order.paid', order: { id: 'ord_1001' } },
    { type: 'customer.updated', customer: { id: 'cus_77', email: 'ana@example.com' } },
    { type: 'order.created', order: { id: 'ord_1002', total: 9.9, currency: 'EUR' } },
    { type: 'order.shipped', order: { id: 'ord_1001', carrier: 'post' } },
  ];
  for (const event of events) {
    const response = await fetch(endpoint, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify(event),
    });
    console.log(`  POST ${event.type} → ${response.status} ${await response.text()}`);
  }
  const perHook = { orders: events.filter((e) => e.type.startsWith('order.')).length, audit: events.length };
  const expected = perHook.orders + perHook.audit;
  await eventually(
    `${expected} verified deliveries`,
    () => receiver.deliveries.slice(before).filter((d) => d.verified).length >= expected,
    WAIT,
  );
  // Status is written back in batches, about once a second: wait until each Webhook's
  // status counts every delivery the receiver verified, so the table shows them all.
  await eventually(
    'the deliveries in the Webhooks status',
    async () => {
      const counts = await Promise.all(
        Object.entries(perHook).map(async ([name, wanted]) => {
          const hook = await client.get<{ status?: { deliveries?: { succeeded?: number } } }>(
            webhookPath(name),
          );
          return (hook.status?.deliveries?.succeeded ?? 0) >= wanted;
        }),
      );
      return counts.every(Boolean);
    },
    WAIT,
  );
  console.log(`\n$ kubectl get webhooks -n ${namespace}`);
  console.log((await kubectl('get', 'webhooks', '-n', namespace)).stdout.trimEnd());
} catch (error) {
  console.error(
    `\nThe quickstart did not complete: ${error instanceof Error ? error.message : String(error)}`,
  );
  console.error(`See the operator log ${operatorLog} and the dispatcher logs in ${logDir}.`);
  await stopAll();
  process.exit(1);
}

console.log(`
Hookline is running locally (environment up in ${((timings.total ?? 0) / 1000).toFixed(1)} s).

  kubectl          export KUBECONFIG=${info.kubeconfig}
                   ${info.kubectl} get webhooks,eventsources,callbackpolicies -n ${namespace}
                   ${info.kubectl} get webhook orders -n ${namespace} -o yaml   (status.recentAttempts)
  Post an event    curl -X POST http://127.0.0.1:${dispatchers.port(namespace, 'shop')}/v1/events \\
                     -H 'Authorization: Bearer ${TOKEN}' -H 'Content-Type: application/json' \\
                     -d '{"type":"order.created","order":{"id":"ord_1003"}}'
  Receiver         http://127.0.0.1:${receiver.port} (prints each delivery and whether it verified)
  RabbitMQ         ${info.rabbitmq.amqpUrl}, management UI ${info.rabbitmq.managementUrl} (guest / guest)
  Kafka            ${info.kafka.brokers.join(',')}
  Operator log     ${operatorLog}
  Dispatcher logs  ${logDir}
  Environment      ${info.stateDir}

Other cases are in examples/ (apply them in their own namespace; their URLs need receivers).
Dispatchers the operator creates run here as local processes, restarted when it rolls them.`);

if (values.once) {
  await stopAll();
  process.exit(0);
}
console.log(
  `Press Ctrl-C to stop${started.length > 0 ? ` (stops the operator, the dispatchers and ${started.join(', ')})` : ' (stops the operator and the dispatchers)'}.`,
);
operator.once('exit', (code) => {
  if (stopping) return;
  console.error(`The operator exited (code ${code}); see ${operatorLog}`);
  void stopAll().then(() => process.exit(1));
});

/** A URL with a user and password in it. */
function withCredentials(base: string, user: string, password: string): string {
  const url = new URL(base);
  url.username = encodeURIComponent(user);
  url.password = encodeURIComponent(password);
  return url.toString();
}
