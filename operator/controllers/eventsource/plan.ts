// The pure part of reconciling an EventSource: the objects the dispatcher runs with (the
// broker Secret the operator writes for the default broker included), where each is
// applied, and the status the operator owns. Table tests in plan.test.ts.
import type { EventSource } from '../../../core/api/v1alpha1/eventsource.ts';
import { resourcePath } from '../../../core/kube/client.ts';
import type { RawObject } from '../../../core/kube/objects.ts';
import { namespaceOf } from '../../../core/names.ts';
import { setCondition } from '../../runtime/conditions.ts';
import type { SourceBroker } from '../broker.ts';
import type { CredentialStatus } from './credentials.ts';
import { ingestEndpoint, sourceType, type Manifest } from '../dispatcher-objects.ts';
import type { DeploymentState, DispatcherReadiness } from '../dispatcher-readiness.ts';
import { dispatcherLabels, ownerReference } from '../names.ts';

/** Why the EventSource is not Ready; `retry` when a later reconcile may get through unchanged. */
export interface NotReady {
  reason: string;
  message: string;
  retry: boolean;
}

/** What is in place: the dispatcher Deployment as the API server answered its apply. */
export interface InPlace {
  deployment: DeploymentState;
  /** The dispatcher's own user on the default broker. */
  credentials?: CredentialStatus;
}

const PLURALS: Record<string, string> = {
  ServiceAccount: 'serviceaccounts',
  Role: 'roles',
  RoleBinding: 'rolebindings',
  Deployment: 'deployments',
  Service: 'services',
  Secret: 'secrets',
};

/** Where a manifest the operator applies lives in the API. */
export function manifestPath(manifest: Manifest): string {
  const [group, version] = manifest.apiVersion.includes('/')
    ? manifest.apiVersion.split('/')
    : ['', manifest.apiVersion];
  const plural = PLURALS[manifest.kind];
  if (!plural) throw new Error(`no path for kind ${manifest.kind}`);
  return resourcePath({
    group: group!,
    version: version!,
    plural,
    namespace: manifest.metadata.namespace,
    name: manifest.metadata.name,
  });
}

/**
 * The Secret the dispatcher reads the default broker's URI from, with the dispatcher's own
 * user in it (`uri`); none for a broker the source names (the dispatcher reads the source's
 * own Secret).
 */
export function brokerSecretManifests(source: EventSource, broker: SourceBroker, uri: string): Manifest[] {
  if (broker.ref.kind !== 'default') return [];
  return [
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: broker.dispatcherSecret.name,
        namespace: namespaceOf(source),
        labels: dispatcherLabels(source.metadata.name),
        ownerReferences: [ownerReference(source)],
      },
      type: 'Opaque',
      stringData: { [broker.dispatcherSecret.key]: uri },
    },
  ];
}

/** What stands in the way once the objects are in place: a dispatcher not ready yet is no error to retry. */
export function readinessProblem(readiness: DispatcherReadiness): NotReady | undefined {
  return readiness.ready
    ? undefined
    : { reason: 'DispatcherNotReady', message: readiness.message, retry: false };
}

/** The part of the status the operator owns. */
export function desiredStatus(
  raw: RawObject,
  problem: NotReady | undefined,
  observed:
    | { source: EventSource; readiness: DispatcherReadiness; credentials?: CredentialStatus | undefined }
    | undefined,
  boundWebhooks: number,
  now: Date,
): Record<string, unknown> {
  const conditions = setCondition(
    raw.status?.conditions as never,
    problem
      ? { type: 'Ready', status: 'False', reason: problem.reason, message: problem.message }
      : {
          type: 'Ready',
          status: 'True',
          reason: 'Ready',
          message: `The broker topology is in place; ${observed?.readiness.message ?? 'the dispatcher is ready'}`,
        },
    raw.metadata.generation,
    now,
  );
  const owned: Record<string, unknown> = {
    observedGeneration: raw.metadata.generation,
    conditions,
    webhooks: boundWebhooks,
  };
  if (observed) {
    const { source, readiness } = observed;
    owned.sourceType = sourceType(source);
    owned.dispatcher = { replicas: readiness.replicas, readyReplicas: readiness.readyReplicas };
    const endpoint = ingestEndpoint(source);
    if (endpoint) owned.endpoint = endpoint;
    if (observed.credentials) owned.brokerCredentials = observed.credentials;
  }
  return owned;
}
