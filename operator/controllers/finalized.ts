// What the EventSource and Webhook controllers share: the default error policy and the
// apply/cleanup flow of a resource Hookline's finalizer guards (operator/runtime/finalizer.ts).
import { resourcePath } from '../../core/kube/client.ts';
import type { RawObject } from '../../core/kube/objects.ts';
import {
  defaultErrorPolicy,
  type Action,
  type Controller,
  type ErrorContext,
  type ReconcileContext,
} from '../runtime/controller.ts';
import { finalized } from '../runtime/finalizer.ts';
import type { OperatorContext } from './context.ts';
import { hookRef } from './status.ts';

export abstract class FinalizedController implements Controller<RawObject> {
  abstract readonly kind: string;
  protected readonly ctx: OperatorContext;
  readonly #plural: string;
  readonly #finalizer: string;

  constructor(ctx: OperatorContext, plural: string, finalizer: string) {
    this.ctx = ctx;
    this.#plural = plural;
    this.#finalizer = finalizer;
  }

  errorPolicy(_object: RawObject, error: unknown, ctx: ErrorContext): Action {
    return defaultErrorPolicy(error, ctx);
  }

  reconcile(raw: RawObject, rc: ReconcileContext): Promise<Action> {
    return finalized(this.ctx.client, resourcePath(hookRef(raw, this.#plural)), raw, this.#finalizer, {
      apply: (object) => this.apply(object, rc),
      cleanup: (object) => this.cleanup(object, rc),
      wrote: (object) => rc.wrote(object),
    });
  }

  /** Brings the world to what the object asks for (the finalizer is on it). */
  protected abstract apply(raw: RawObject, rc: ReconcileContext): Promise<Action>;
  /** Deletes what `apply` made; tolerates `apply` never having run. */
  protected abstract cleanup(raw: RawObject, rc: ReconcileContext): Promise<void>;
}
