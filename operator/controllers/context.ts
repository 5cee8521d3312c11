// What every controller of the operator is given: the API client, the caches, the broker
// connections, the Event recorder, the settings and a clock.
import type { Logger } from 'pino';
import type { BrokerConnections } from '../rabbit/broker.ts';
import type { DelayInfrastructure } from '../rabbit/delay.ts';
import type { EventRecorder } from '../runtime/events.ts';
import type { Informer, KubeObject } from '../runtime/informer.ts';
import type { KubeClient } from '../runtime/kube-client.ts';
import type { Settings } from '../settings.ts';
import type { DeploymentState } from './dispatcher-readiness.ts';

/** An object as read from the cluster, before validation. */
export interface RawObject extends KubeObject {
  apiVersion: string;
  kind: string;
  metadata: KubeObject['metadata'] & {
    generation?: number;
    deletionTimestamp?: string;
    finalizers?: string[];
    annotations?: Record<string, string>;
  };
  spec?: unknown;
  status?: Record<string, unknown>;
}

export interface Secret extends KubeObject {
  data?: Record<string, string>;
  type?: string;
}

export interface Caches {
  webhooks: Informer<RawObject>;
  sources: Informer<RawObject>;
  policies: Informer<RawObject>;
  secrets: Informer<Secret>;
  deployments: Informer<KubeObject & DeploymentState>;
}

export interface OperatorContext {
  client: KubeClient;
  caches: Caches;
  brokers: BrokerConnections;
  /** Which namespaces' delay infrastructure is declared on which broker. */
  delays: DelayInfrastructure;
  recorder: EventRecorder;
  settings: Settings;
  logger: Logger;
  now: () => Date;
}
