// EventSource controller: the dispatcher Deployment and what it runs with, the ingest
// exchange of kafka and http sources, and a status that says whether all of it is in place
// and whether the dispatcher's replicas are ready (from the Deployment's status; a change
// of it triggers a reconcile through the Deployment informer).
import { EventSource } from '../../../core/api/v1alpha1/eventsource.ts';
import { validate } from '../../../core/api/validate.ts';
import { HooklineError, errorMessage, reportedCondition } from '../../../core/errors.ts';
import { resourcePath } from '../../../core/kube/client.ts';
import type { RawObject } from '../../../core/kube/objects.ts';
import { namespaceOf } from '../../../core/names.ts';
import { sourceOf } from '../../../core/references.ts';
import { secretNamesOf, sourceSecretRefs } from '../../../core/secret-refs.ts';
import { awaitChange, type Action, type ReconcileContext } from '../../runtime/controller.ts';
import type { OperatorContext } from '../context.ts';
import { AppliedManifests } from '../applied.ts';
import { FinalizedController } from '../finalized.ts';
import { dispatcherObjects } from '../dispatcher-objects.ts';
import {
  dispatcherReadiness,
  type DeploymentState,
  type DispatcherReadiness,
} from '../dispatcher-readiness.ts';
import { brokerSecretName, dispatcherName, hashOf, ingestServiceName, SOURCE_FINALIZER } from '../names.ts';
import { secretEntry } from '../secrets.ts';
import { applyOwnedStatus } from '../status.ts';
import { managementUriFor, sourceUserName } from '../../rabbit/users.ts';
import { ROTATE_ANNOTATION, SourceCredentials, type SourceCredential } from './credentials.ts';
import { deleteIngest, ensureIngest } from './ingest.ts';
import {
  brokerSecretManifests,
  desiredStatus,
  manifestPath,
  readinessProblem,
  type InPlace,
  type NotReady,
} from './plan.ts';

const PLURAL = 'eventsources';
const BROKER_SECRET_FIELDS = new Set([
  'spec.rabbitmq.connectionSecretRef',
  'spec.broker.connectionSecretRef',
]);

export class EventSourceController extends FinalizedController {
  readonly kind = 'EventSource';

  readonly #applied: AppliedManifests;
  /** Each default-broker source's own broker user; none without a default broker. */
  readonly #credentials: SourceCredentials | undefined;

  constructor(ctx: OperatorContext) {
    super(ctx, PLURAL, SOURCE_FINALIZER);
    this.#applied = new AppliedManifests(ctx.settings.resyncPeriod, ctx.now);
    const { defaultBrokerUri, defaultBrokerManagementUri, resyncPeriod } = ctx.settings;
    this.#credentials = defaultBrokerUri
      ? new SourceCredentials({
          managementUri: defaultBrokerManagementUri ?? managementUriFor(defaultBrokerUri),
          caches: ctx.caches,
          maxAgeMs: resyncPeriod,
          now: ctx.now,
        })
      : undefined;
  }

  protected async apply(raw: RawObject, rc: ReconcileContext): Promise<Action> {
    const parsed = validate(EventSource, raw);
    if (!parsed.ok) {
      await this.#writeStatus(raw, rc, { reason: 'InvalidSpec', message: parsed.message, retry: false });
      return awaitChange();
    }
    const source = parsed.value;
    const ensured = await this.#ensure(source, raw, rc);
    const readiness = dispatcherReadiness(
      'deployment' in ensured ? ensured.deployment : this.#cachedDeployment(raw),
      source.spec.dispatcher.replicas,
    );
    // Not ready yet is no error: the Deployment's status changes, and that brings the next reconcile.
    const problem = 'reason' in ensured ? ensured : readinessProblem(readiness);
    const credentials = 'deployment' in ensured ? ensured.credentials : undefined;
    await this.#writeStatus(raw, rc, problem, { source, readiness, credentials });
    if (problem?.retry) throw reportedCondition(problem.reason, problem.message);
    return awaitChange();
  }

  #cachedDeployment(raw: { metadata: { name: string; namespace?: string } }): DeploymentState | undefined {
    return this.ctx.caches.deployments.get(`${namespaceOf(raw)}/${dispatcherName(raw.metadata.name)}`);
  }

  /** Puts broker topology and children in place; answers what stands in the way, or the Deployment. */
  async #ensure(source: EventSource, raw: RawObject, rc: ReconcileContext): Promise<NotReady | InPlace> {
    const { caches, settings, brokers, client } = this.ctx;
    const namespace = namespaceOf(source);
    const refs = sourceSecretRefs(source.spec);
    const lookups = refs.map((ref) => secretEntry(caches, namespace, ref, ref.field));
    const values: string[] = [];
    for (const lookup of lookups) {
      if (!lookup.ok) return { reason: lookup.reason, message: lookup.message, retry: true };
      values.push(lookup.value);
    }
    const broker = this.ctx.brokerOf.ofSource(source);
    if (!broker.ok) return { reason: broker.reason, message: broker.message, retry: false };

    let credential: SourceCredential | undefined;
    try {
      const problem = await ensureIngest(
        await brokers.admin(broker.value.uri),
        source,
        namespace,
        broker.value.queueType,
      );
      if (problem) return problem;
      if (broker.value.ref.kind === 'default' && this.#credentials) {
        credential = await this.#credentials.ensure(raw, broker.value.uri);
        if (credential.rotated) {
          rc.logger.info({ user: credential.status.user }, 'Rotated the broker credential');
          void this.ctx.recorder.normal(
            source,
            'RotatedCredentials',
            `Gave broker user ${credential.status.user} a new password (${ROTATE_ANNOTATION}: ${credential.status.rotation}); the dispatcher restarts with it`,
          );
        }
      }
    } catch (error) {
      if (error instanceof HooklineError)
        return { reason: error.reason, message: error.message, retry: true };
      throw error;
    }
    const dispatcherUri = credential?.uri ?? broker.value.uri;

    // The broker URI reaches the dispatcher through its environment (the kubelet reads that
    // Secret), never through the API: the Role names only the Secrets the dispatcher reads.
    const secretNames = new Set<string>(
      refs.filter((ref) => !BROKER_SECRET_FIELDS.has(ref.field)).map((ref) => ref.name),
    );
    for (const webhook of this.#boundWebhooks(namespace, source.metadata.name))
      for (const name of secretNamesOf(webhook)) secretNames.add(name);
    const configHash = hashOf({
      spec: source.spec,
      secrets: refs.map((ref, i) => [ref.field, ref.key, values[i]]),
      image: settings.dispatcherImage,
      brokerUri: dispatcherUri,
    });
    const objects = [
      ...brokerSecretManifests(source, broker.value, dispatcherUri),
      ...dispatcherObjects({
        source,
        image: settings.dispatcherImage,
        brokerSecret: broker.value.dispatcherSecret,
        configHash,
        secretNames: [...secretNames],
        delivery: { allowedCidrs: settings.allowedCidrs, allowHttpUrls: settings.allowHttpUrls },
        env: settings.dispatcherEnv,
      }),
    ];
    const owner = source.metadata.uid ?? `${namespace}/${source.metadata.name}`;
    let deployment = this.#cachedDeployment(source);
    let wrote = false;
    for (const manifest of objects) {
      const isDeployment = manifest.kind === 'Deployment';
      if (!this.#applied.changed(owner, manifest) && !(isDeployment && !deployment)) continue;
      const applied = await client.apply<DeploymentState>(manifestPath(manifest), manifest);
      this.#applied.applied(owner, manifest);
      if (isDeployment) deployment = applied;
      wrote = true;
    }
    if (wrote && !source.spec.http)
      await client.delete(
        resourcePath({
          group: '',
          version: 'v1',
          plural: 'services',
          namespace,
          name: ingestServiceName(source.metadata.name),
        }),
      );
    if (wrote) rc.logger.debug({ objects: objects.length, configHash }, 'Applied dispatcher objects');
    if (!deployment) throw new Error('the dispatcher objects hold no Deployment');
    return credential ? { deployment, credentials: credential.status } : { deployment };
  }

  #boundWebhooks(namespace: string, source: string): RawObject[] {
    return this.ctx.caches.webhooks
      .list()
      .filter((w) => w.metadata.namespace === namespace && sourceOf(w) === source);
  }

  async #writeStatus(
    raw: RawObject,
    rc: ReconcileContext,
    problem: NotReady | undefined,
    observed?: {
      source: EventSource;
      readiness: DispatcherReadiness;
      credentials?: SourceCredential['status'] | undefined;
    },
  ): Promise<void> {
    const bound = this.#boundWebhooks(namespaceOf(raw), raw.metadata.name).length;
    const written = await applyOwnedStatus(
      this.ctx.client,
      raw,
      PLURAL,
      desiredStatus(raw, problem, observed, bound, this.ctx.now()),
    );
    if (written) rc.wrote(written);
  }

  async #removeUser(raw: RawObject, rc: ReconcileContext): Promise<void> {
    try {
      await this.#credentials!.remove(raw);
    } catch (error) {
      const waited = this.ctx.now().getTime() - Date.parse(raw.metadata.deletionTimestamp ?? '');
      if (!(waited >= this.ctx.settings.finalizerTimeout)) throw error;
      const user = sourceUserName(namespaceOf(raw), raw.metadata.name);
      const message = `Gave up deleting broker user ${user} after ${Math.round(waited / 1000)} s: ${errorMessage(error)}. Delete it by hand (rabbitmqctl delete_user ${user}).`;
      rc.logger.warn(message);
      await this.ctx.recorder.warning(raw, 'CredentialsLeftBehind', message);
    }
  }

  /** Deletes what the operator made for the source (there may be no garbage collector). */
  protected async cleanup(raw: RawObject, rc: ReconcileContext): Promise<void> {
    const { client, brokers } = this.ctx;
    const namespace = namespaceOf(raw);
    const name = raw.metadata.name;
    this.#applied.forget(raw.metadata.uid ?? `${namespace}/${name}`);
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
    // The spec may not be valid any more: read the broker reference loosely.
    const spec = raw.spec as
      { rabbitmq?: unknown; broker?: { connectionSecretRef?: { name: string; key: string } } } | undefined;
    // A user this operator made goes for good: a failure here is retried (a user left behind
    // could still reach the namespace's queues) until the finalizer's time is up.
    if (spec && !spec.rabbitmq && !spec.broker?.connectionSecretRef && this.#credentials)
      await this.#removeUser(raw, rc);
    if (spec && !spec.rabbitmq) {
      const uri = this.ctx.brokerOf.ofRef(
        namespace,
        spec.broker?.connectionSecretRef
          ? { kind: 'secret', ...spec.broker.connectionSecretRef }
          : { kind: 'default' },
        'spec.broker',
      );
      if (uri.ok) {
        try {
          await deleteIngest(await brokers.admin(uri.value), namespace, name);
        } catch (error) {
          rc.logger.warn(
            { err: errorMessage(error) },
            'Could not delete the ingest exchange and dead-letter queue; leaving them',
          );
        }
      }
    }
    rc.logger.info('Removed dispatcher');
  }
}
