// `npm run local`: Hookline on this machine. It brings up the local environment
// (Kubernetes control plane, RabbitMQ, Kafka), installs the CRDs, runs the operator as a
// local process against it, says what runs where, and keeps running until Ctrl-C.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { envConfig } from '../test/env/config.ts';
import { down, up } from '../test/env/env.ts';
import { run } from '../test/env/process.ts';

const repo = path.resolve(import.meta.dirname, '..');
const config = envConfig();
const { info, started, timings } = await up(config);
const kubectl = (...args: string[]) =>
  run(info.kubectl, ['--kubeconfig', info.kubeconfig, ...args], { timeoutMs: 60_000 });

await kubectl('apply', '--server-side', '-f', path.join(repo, 'crds'));
await kubectl(
  'wait',
  '--for=condition=Established',
  '--timeout=60s',
  'crd/webhooks.hookline.dev',
  'crd/eventsources.hookline.dev',
  'crd/callbackpolicies.hookline.dev',
);
await kubectl('create', 'namespace', 'hookline-system').catch(() => undefined);

const operatorLog = path.join(info.stateDir, 'operator.log');
const operator = spawn(process.execPath, [path.join(repo, 'operator/main.ts')], {
  env: {
    ...process.env,
    KUBECONFIG: info.kubeconfig,
    HOOKLINE_DEFAULT_BROKER_URI: info.rabbitmq.amqpUrl,
    HOOKLINE_ALLOWED_CIDRS: '127.0.0.0/8',
    HOOKLINE_ALLOW_HTTP_URLS: 'true',
    HOOKLINE_METRICS_PORT: '0',
    HOOKLINE_PROBES_PORT: '0',
  },
  stdio: ['ignore', fs.openSync(operatorLog, 'a'), fs.openSync(operatorLog, 'a')],
});

console.log(`
Hookline is running locally (environment up in ${((timings.total ?? 0) / 1000).toFixed(1)} s).

  Kubernetes API   ${info.apiServer}   (CRDs installed; the operator runs as pid ${operator.pid})
  kubectl          export KUBECONFIG=${info.kubeconfig}
                   ${info.kubectl} get hookline -A
  RabbitMQ         ${info.rabbitmq.amqpUrl}
                   management UI ${info.rabbitmq.managementUrl} (guest / guest)
  Kafka            ${info.kafka.brokers.join(',')}
  Operator log     ${operatorLog}
  Logs and data    ${info.stateDir}

Apply a case from examples/ to see the operator create its dispatcher and queues, e.g.
  ${info.kubectl} --kubeconfig ${info.kubeconfig} create namespace midaz
  ${info.kubectl} --kubeconfig ${info.kubeconfig} apply -n midaz -f examples/midaz/hookline.yaml
There is no kubelet: a dispatcher runs from its Deployment with
  node dispatcher/cli.ts dispatcher --namespace=<ns> --source=<name> (with HOOKLINE_BROKER_URI set).
Press Ctrl-C to stop${started.length > 0 ? ` (stops the operator and ${started.join(', ')})` : ' (stops the operator)'}.`);

await new Promise<void>((resolve) => {
  process.once('SIGINT', resolve);
  process.once('SIGTERM', resolve);
  operator.once('exit', () => resolve());
});
console.log('\nStopping…');
if (operator.exitCode === null) {
  operator.kill('SIGTERM');
  await new Promise((resolve) => operator.once('exit', resolve));
}
await down(config, started);
