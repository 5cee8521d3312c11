// `npm run local`: Hookline's main job on this machine. It brings up the local
// environment (Kubernetes control plane, RabbitMQ, Kafka), says what runs where, and keeps
// it running until Ctrl-C.
import { envConfig } from '../test/env/config.ts';
import { down, up } from '../test/env/env.ts';

const config = envConfig();
const { info, started, timings } = await up(config);

console.log(`
Hookline local environment is up (${((timings.total ?? 0) / 1000).toFixed(1)} s).

  Kubernetes API   ${info.apiServer}
  kubectl          export KUBECONFIG=${info.kubeconfig}
                   ${info.kubectl} get namespaces
  RabbitMQ         ${info.rabbitmq.amqpUrl}
                   management UI ${info.rabbitmq.managementUrl} (guest / guest)
  Kafka            ${info.kafka.brokers.join(',')}
  Logs and data    ${info.stateDir}

The operator and the dispatchers are not part of this build yet; they will run here,
as local processes, against this environment.
Press Ctrl-C to stop${started.length > 0 ? ` (stops: ${started.join(', ')})` : ''}.`);

const stop = new Promise<void>((resolve) => {
  process.once('SIGINT', resolve);
  process.once('SIGTERM', resolve);
});
const keepAlive = setInterval(() => undefined, 60_000);
await stop;
clearInterval(keepAlive);
console.log('\nStopping the local environment…');
await down(config, started);
