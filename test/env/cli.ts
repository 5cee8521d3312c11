// `npm run env:up | env:down | env:status`: the test environment from the command line.
import { downKafkaCluster, kafkaClusterStatus, upKafkaCluster } from './cluster/kafka.ts';
import { downRabbitCluster, rabbitClusterStatus, upRabbitCluster } from './cluster/rabbitmq.ts';
import { envConfig } from './config.ts';
import { down, status, up } from './env.ts';
import { describeNode } from './node/cli.ts';
import { downNode, upNode } from './node/node.ts';

/** `--cluster` or HOOKLINE_ENV_CLUSTER=1: the 3-node RabbitMQ and 3-broker Kafka clusters too. */
function clusters(): boolean {
  return process.argv.includes('--cluster') || process.env.HOOKLINE_ENV_CLUSTER === '1';
}

async function main(command: string | undefined): Promise<void> {
  const config = envConfig();
  switch (command) {
    case 'up': {
      const { info, started, timings } = await up(config);
      const reused = (['kube', 'rabbitmq', 'kafka'] as const).filter((name) => !started.includes(name));
      console.log(
        [
          `Hookline test environment is up in ${(timings.total! / 1000).toFixed(1)} s` +
            (reused.length > 0 ? ` (reused: ${reused.join(', ')})` : ''),
          `  Kubernetes API   ${info.apiServer}`,
          `                   export KUBECONFIG=${info.kubeconfig}`,
          `                   kubectl: ${info.kubectl}`,
          `  RabbitMQ (AMQP)  ${info.rabbitmq.amqpUrl}`,
          `  RabbitMQ (mgmt)  ${info.rabbitmq.managementUrl}  (user ${info.rabbitmq.user})`,
          `  Kafka            ${info.kafka.brokers.join(',')}`,
          `  helm             ${info.helm}`,
          `  logs and data    ${info.stateDir}`,
          'Stop it with: npm run env:down',
        ].join('\n'),
      );
      // The opt-in clusters: a 3-node RabbitMQ and a 3-broker Kafka, beside the single nodes.
      if (clusters()) {
        const [rabbit, kafka] = await Promise.all([upRabbitCluster(), upKafkaCluster()]);
        console.log(
          [
            'Clusters (opt-in) are up',
            `  RabbitMQ (3 nodes)   ${rabbit.amqpUri}`,
            `  RabbitMQ (mgmt)      ${rabbit.nodes.map((n) => n.managementUrl).join(',')}`,
            `  Kafka (3 brokers)    ${kafka.brokers.join(',')}`,
          ].join('\n'),
        );
      }
      // The opt-in node (kubelet, containerd, controllers) in an environment of its own.
      if (process.argv.includes('--node') || process.env.HOOKLINE_ENV_NODE === '1') {
        console.log(describeNode(await upNode()));
      }
      return;
    }
    case 'down':
      if (process.argv.includes('--node') || process.env.HOOKLINE_ENV_NODE === '1') await downNode();
      if (clusters()) await Promise.all([downRabbitCluster(), downKafkaCluster()]);
      await down(config);
      console.log('Hookline test environment stopped.');
      return;
    case 'status': {
      const components = await status(config);
      for (const [name, state] of Object.entries(components)) console.log(`${name.padEnd(18)}${state}`);
      console.log(`${'rabbitmq cluster'.padEnd(18)}${await rabbitClusterStatus()}`);
      console.log(`${'kafka cluster'.padEnd(18)}${await kafkaClusterStatus()}`);
      return;
    }
    default:
      console.error('usage: node test/env/cli.ts up|down|status');
      process.exitCode = 2;
  }
}

try {
  await main(process.argv[2]);
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
}
