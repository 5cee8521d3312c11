// EventSource controller: the dispatcher Deployment and what it runs with, the ingest
// exchange of kafka and http sources, and a status that says whether all of it is in place
// and whether the dispatcher's replicas are ready (from the Deployment's status; a change
// of it triggers a reconcile through the Deployment informer).
import { EventSource } from '../../core/api/v1alpha1/eventsource.ts';
import { validate } from '../../core/api/validate.ts';
import { ingestDeadLetterQueueName, ingestExchangeName } from '../../core/rabbit/topology.ts';
import { setCondition } from '../runtime/conditions.ts';
import {
  awaitChange,
  defaultErrorPolicy,
  type Action,
  type Controller,
  type ErrorContext,
  type ReconcileContext,
} from '../runtime/controller.ts';
import { HooklineError, errorMessage, reportedCondition } from '../../core/errors.ts';
import { setFinalizer } from '../runtime/finalizer.ts';
import { resourcePath } from '../../core/kube/client.ts';
import type { RawObject } from '../../core/kube/objects.ts';
import type { OperatorContext } from './context.ts';
import { dispatcherObjects, ingestEndpoint, sourceType, type Manifest } from './dispatcher-objects.ts';
import {
  dispatcherReadiness,
  type DeploymentState,
  type DispatcherReadiness,
} from './dispatcher-readiness.ts';
import {
  brokerSecretName,
  dispatcherLabels,
  dispatcherName,
  hashOf,
  ingestServiceName,
  ownerReference,
  SOURCE_FINALIZER,
} from './names.ts';
import type { Lookup } from '../../core/lookup.ts';
import { secretEntry } from './secrets.ts';
import { applyOwnedStatus, hookRef } from './status.ts';
import { webhookSecretNames } from './webhook-secrets.ts';

const PLURAL = 'eventsources';

interface NotReady {
  reason: string;
  message: string;
  retry: boolean;
}

/** What is in place: the dispatcher Deployment as the API server answered its apply. */
interface InPlace {
  deployment: DeploymentState;
}

function manifestPath(manifest: Manifest): string {
  const [group, version] = manifest.apiVersion.includes('/')
    ? manifest.apiVersion.split('/')
    : ['', manifest.apiVersion];
  const plural = {
    ServiceAccount: 'serviceaccounts',
    Role: 'roles',
    RoleBinding: 'rolebindings',
    Deployment: 'deployments',
    Service: 'services',
    Secret: 'secrets',
  }[manifest.kind];
  if (!plural) throw new Error(`no path for kind ${manifest.kind}`);
  return resourcePath({
    group: group!,
    version: version!,
    plural,
    namespace: manifest.metadata.namespace,
    name: manifest.metadata.name,
  });
}

/** The Secret entries a source names, with the field that names each. */
function sourceSecretRefs(source: EventSource): { name: string; key: string; field: string }[] {
  const { rabbitmq, kafka, http, broker } = source.spec;
  const refs: { name: string; key: string; field: string }[] = [];
  if (rabbitmq) refs.push({ ...rabbitmq.connectionSecretRef, field: 'spec.rabbitmq.connectionSecretRef' });
  if (http) refs.push({ ...http.authSecretRef, field: 'spec.http.authSecretRef' });
  if (broker) refs.push({ ...broker.connectionSecretRef, field: 'spec.broker.connectionSecretRef' });
  if (kafka?.tls?.caSecretRef) refs.push({ ...kafka.tls.caSecretRef, field: 'spec.kafka.tls.caSecretRef' });
  if (kafka?.tls?.certSecretRef)
    refs.push({ ...kafka.tls.certSecretRef, field: 'spec.kafka.tls.certSecretRef' });
  if (kafka?.tls?.keySecretRef)
    refs.push({ ...kafka.tls.keySecretRef, field: 'spec.kafka.tls.keySecretRef' });
  if (kafka?.sasl) {
    const { name, usernameKey, passwordKey } = kafka.sasl.secretRef;
    refs.push({ name, key: usernameKey, field: 'spec.kafka.sasl.secretRef' });
    refs.push({ name, key: passwordKey, field: 'spec.kafka.sasl.secretRef' });
  }
  return refs;
}

export class EventSourceController implements Controller<RawObject> {
  readonly kind = 'EventSource';
  readonly #ctx: OperatorContext;

  constructor(ctx: OperatorContext) {
    this.#ctx = ctx;
  }

  errorPolicy(_object: RawObject, error: unknown, ctx: ErrorContext): Action {
    return defaultErrorPolicy(error, ctx);
  }

  async reconcile(raw: RawObject, rc: ReconcileContext): Promise<Action> {
    const { client } = this.#ctx;
    const path = resourcePath(hookRef(raw, PLURAL));
    if (raw.metadata.deletionTimestamp) return this.#finalize(raw, path, rc);
    if (await setFinalizer(client, path, raw, SOURCE_FINALIZER, true)) return awaitChange(); // the update comes back as an event

    const parsed = validate(EventSource, raw);
    if (!parsed.ok) {
      await this.#writeStatus(raw, { reason: 'InvalidSpec', message: parsed.message, retry: false });
      return awaitChange();
    }
    const source = parsed.value;
    const ensured = await this.#ensure(source, rc);
    const readiness = dispatcherReadiness(
      'deployment' in ensured ? ensured.deployment : this.#cachedDeployment(raw),
      source.spec.dispatcher.replicas,
    );
    // Not ready yet is no error: the Deployment's status changes, and that brings the next reconcile.
    const problem: NotReady | undefined =
      'reason' in ensured
        ? ensured
        : readiness.ready
          ? undefined
          : { reason: 'DispatcherNotReady', message: readiness.message, retry: false };
    await this.#writeStatus(raw, problem, { source, readiness });
    if (problem?.retry) throw reportedCondition(problem.reason, problem.message);
    return awaitChange();
  }

  #cachedDeployment(raw: RawObject): DeploymentState | undefined {
    const namespace = raw.metadata.namespace ?? 'default';
    return this.#ctx.caches.deployments.get(`${namespace}/${dispatcherName(raw.metadata.name)}`);
  }

  /** Puts broker topology and children in place; answers what stands in the way, or the Deployment. */
  async #ensure(source: EventSource, rc: ReconcileContext): Promise<NotReady | InPlace> {
    const { caches, settings, brokers, client } = this.#ctx;
    const namespace = source.metadata.namespace ?? 'default';
    const lookups = sourceSecretRefs(source).map((ref) => ({
      ref,
      lookup: secretEntry(caches, namespace, ref, ref.field),
    }));
    const missing = lookups.find(({ lookup }) => !lookup.ok);
    if (missing && !missing.lookup.ok)
      return { reason: missing.lookup.reason, message: missing.lookup.message, retry: true };
    const value = (field: string) =>
      (lookups.find(({ ref }) => ref.field === field)?.lookup as Lookup<string> & { ok: true }).value;

    // Where the queues live, and where the dispatcher reads that broker's URI from.
    let brokerUri: string;
    let brokerSecret: { name: string; key: string };
    const extra: Manifest[] = [];
    if (source.spec.rabbitmq) {
      brokerUri = value('spec.rabbitmq.connectionSecretRef');
      brokerSecret = source.spec.rabbitmq.connectionSecretRef;
    } else if (source.spec.broker) {
      brokerUri = value('spec.broker.connectionSecretRef');
      brokerSecret = source.spec.broker.connectionSecretRef;
    } else if (settings.defaultBrokerUri) {
      brokerUri = settings.defaultBrokerUri;
      brokerSecret = { name: brokerSecretName(source.metadata.name), key: 'uri' };
      extra.push({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: {
          name: brokerSecret.name,
          namespace,
          labels: dispatcherLabels(source.metadata.name),
          ownerReferences: [ownerReference(source)],
        },
        type: 'Opaque',
        stringData: { uri: brokerUri },
      });
    } else {
      return {
        reason: 'BrokerNotConfigured',
        message: 'spec.broker is not set and the operator has no default broker (--default-broker-uri)',
        retry: false,
      };
    }

    try {
      const admin = await brokers.admin(brokerUri);
      if (source.spec.rabbitmq) {
        const { exchange, exchangeType, declare } = source.spec.rabbitmq;
        const exists = await admin.exchangeExists(exchange);
        if (exists && (await admin.exchangeTypeIs(exchange, exchangeType)) === 'mismatch') {
          return {
            reason: 'ExchangeMismatch',
            message: `spec.rabbitmq.exchangeType: exchange "${exchange}" exists on the broker with another type than ${exchangeType}`,
            retry: true,
          };
        }
        if (!exists && declare) await admin.assertExchange(exchange, exchangeType);
        else if (!exists) {
          return {
            reason: 'ExchangeNotFound',
            message: `spec.rabbitmq.exchange: exchange "${exchange}" does not exist on the broker (set declare: true to have Hookline declare it)`,
            retry: true,
          };
        }
      } else {
        await admin.assertExchange(ingestExchangeName(namespace, source.metadata.name), 'topic');
        await admin.assertQueue(ingestDeadLetterQueueName(namespace, source.metadata.name));
      }
    } catch (error) {
      if (error instanceof HooklineError)
        return { reason: 'BrokerUnreachable', message: error.message, retry: true };
      throw error;
    }

    const webhooks = this.#boundWebhooks(namespace, source.metadata.name);
    const secretNames = new Set<string>(sourceSecretRefs(source).map((ref) => ref.name));
    for (const webhook of webhooks) for (const name of webhookSecretNames(webhook)) secretNames.add(name);
    const configHash = hashOf({
      spec: source.spec,
      secrets: lookups.map(({ ref, lookup }) => [ref.field, ref.key, (lookup as { value: string }).value]),
      image: settings.dispatcherImage,
      brokerUri,
    });
    const objects = [
      ...extra,
      ...dispatcherObjects({
        source,
        image: settings.dispatcherImage,
        brokerSecret,
        configHash,
        secretNames: [...secretNames],
        delivery: { allowedCidrs: settings.allowedCidrs, allowHttpUrls: settings.allowHttpUrls },
      }),
    ];
    let deployment: DeploymentState | undefined;
    for (const manifest of objects) {
      const applied = await client.apply<DeploymentState>(manifestPath(manifest), manifest);
      if (manifest.kind === 'Deployment') deployment = applied;
    }
    if (!source.spec.http)
      await client.delete(
        resourcePath({
          group: '',
          version: 'v1',
          plural: 'services',
          namespace,
          name: ingestServiceName(source.metadata.name),
        }),
      );
    rc.logger.debug({ objects: objects.length, configHash }, 'Applied dispatcher objects');
    if (!deployment) throw new Error('the dispatcher objects hold no Deployment');
    return { deployment };
  }

  #boundWebhooks(namespace: string, source: string): RawObject[] {
    return this.#ctx.caches.webhooks
      .list()
      .filter(
        (w) =>
          w.metadata.namespace === namespace &&
          (w.spec as { sourceRef?: { name?: string } } | undefined)?.sourceRef?.name === source,
      );
  }

  async #writeStatus(
    raw: RawObject,
    problem: NotReady | undefined,
    observed?: { source: EventSource; readiness: DispatcherReadiness },
  ): Promise<void> {
    const namespace = raw.metadata.namespace ?? 'default';
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
      this.#ctx.now(),
    );
    const owned: Record<string, unknown> = {
      observedGeneration: raw.metadata.generation,
      conditions,
      webhooks: this.#boundWebhooks(namespace, raw.metadata.name).length,
    };
    if (observed) {
      const { source, readiness } = observed;
      owned.sourceType = sourceType(source);
      owned.dispatcher = { replicas: readiness.replicas, readyReplicas: readiness.readyReplicas };
      const endpoint = ingestEndpoint(source);
      if (endpoint) owned.endpoint = endpoint;
    }
    await applyOwnedStatus(this.#ctx.client, raw, PLURAL, owned);
  }

  /** Deletes what the operator made for the source (there may be no garbage collector), then lets it go. */
  async #finalize(raw: RawObject, path: string, rc: ReconcileContext): Promise<Action> {
    const { client, brokers, settings } = this.#ctx;
    const namespace = raw.metadata.namespace ?? 'default';
    const name = raw.metadata.name;
    const children: [string, string, string, string][] = [
      ['apps', 'v1', 'deployments', dispatcherName(name)],
      ['rbac.authorization.k8s.io', 'v1', 'rolebindings', dispatcherName(name)],
      ['rbac.authorization.k8s.io', 'v1', 'roles', dispatcherName(name)],
      ['', 'v1', 'serviceaccounts', dispatcherName(name)],
      ['', 'v1', 'services', ingestServiceName(name)],
      ['', 'v1', 'secrets', brokerSecretName(name)],
    ];
    for (const [group, version, plural, childName] of children) {
      await client.delete(resourcePath({ group, version, plural, namespace, name: childName }));
    }
    // Only the ingest exchange is Hookline's own; a RabbitMQ source's exchange is never deleted.
    const spec = raw.spec as
      { rabbitmq?: unknown; broker?: { connectionSecretRef: { name: string; key: string } } } | undefined;
    if (spec && !spec.rabbitmq) {
      const uri = spec.broker
        ? secretEntry(this.#ctx.caches, namespace, spec.broker.connectionSecretRef, 'spec.broker')
        : settings.defaultBrokerUri
          ? ({ ok: true, value: settings.defaultBrokerUri } as const)
          : undefined;
      if (uri?.ok) {
        try {
          const admin = await brokers.admin(uri.value);
          await admin.deleteExchange(ingestExchangeName(namespace, name));
          await admin.deleteQueue(ingestDeadLetterQueueName(namespace, name));
        } catch (error) {
          rc.logger.warn(
            { err: errorMessage(error) },
            'Could not delete the ingest exchange and dead-letter queue; leaving them',
          );
        }
      }
    }
    await setFinalizer(this.#ctx.client, path, raw, SOURCE_FINALIZER, false);
    rc.logger.info('Removed dispatcher');
    return awaitChange();
  }
}
