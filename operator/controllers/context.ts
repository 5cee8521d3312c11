// What every controller of the operator is given: the API client, the caches, the broker
// connections, the Event recorder, the settings and a clock.
import type { Logger } from 'pino';
import type { BrokerConnections } from '../../core/rabbit/broker.ts';
import type { DelayInfrastructure } from '../rabbit/delay.ts';
import type { BrokerResolver } from './broker.ts';
import type { EventRecorder } from '../../core/kube/events.ts';
import type { Informer, KubeObject } from '../../core/kube/informer.ts';
import type { RawObject, Secret } from '../../core/kube/objects.ts';
import type { KubeClient } from '../../core/kube/client.ts';
import type { Settings } from '../settings.ts';
import type { DeploymentState } from './dispatcher-readiness.ts';

export interface Caches {
  webhooks: Informer<RawObject>;
  sources: Informer<RawObject>;
  policies: Informer<RawObject>;
  /** Secrets by `ns/name`: the contents of those Hookline objects name (operator/secret-cache.ts). */
  secrets: { get(key: string): Secret | undefined };
  deployments: Informer<KubeObject & DeploymentState>;
}

export interface OperatorContext {
  client: KubeClient;
  caches: Caches;
  brokers: BrokerConnections;
  /** Where each source's broker is. */
  brokerOf: BrokerResolver;
  /** Which namespaces' delay infrastructure is declared on which broker. */
  delays: DelayInfrastructure;
  recorder: EventRecorder;
  settings: Settings;
  logger: Logger;
  now: () => Date;
}
