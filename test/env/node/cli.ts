// `npm run env:node -- up|down|status`: the opt-in node environment (test/env/node/node.ts)
// from the command line. `npm run env:up -- --node` (or HOOKLINE_ENV_NODE=1) brings it up
// after the shared environment.
import { downNode, nodeConfig, nodeHealthy, readNodeState, upNode, type NodeState } from './node.ts';

export function describeNode(state: NodeState): string {
  const timings = Object.entries(state.timings)
    .map(([name, ms]) => `${name} ${(ms / 1000).toFixed(1)} s`)
    .join(', ');
  return [
    `Hookline node environment is up (${timings || 'reused'})`,
    `  Kubernetes API   ${state.server}`,
    `                   export KUBECONFIG=${state.kubeconfig}`,
    `  containerd       ${state.containerdSocket} (ctr -n k8s.io, snapshotter ${state.snapshotter})`,
    `  logs and data    ${state.stateDir}`,
    'Stop it with: npm run env:node -- down',
  ].join('\n');
}

async function main(command: string | undefined): Promise<void> {
  const config = nodeConfig();
  switch (command) {
    case 'up':
      console.log(describeNode(await upNode(config)));
      return;
    case 'down':
      await downNode(config);
      console.log('Hookline node environment stopped.');
      return;
    case 'status': {
      const state = readNodeState(config);
      console.log(state ? ((await nodeHealthy(state)) ? 'running' : 'unhealthy') : 'stopped');
      return;
    }
    default:
      console.error('usage: node test/env/node/cli.ts up|down|status');
      process.exitCode = 2;
  }
}

if (import.meta.main) {
  try {
    await main(process.argv[2]);
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 1;
  }
}
