// The hookline.dev/v1alpha1 API: the three kinds.
import { callbackPolicyKind } from './callbackpolicy.ts';
import type { KindDefinition } from './common.ts';
import { eventSourceKind } from './eventsource.ts';
import { webhookKind } from './webhook.ts';

export const kinds: readonly KindDefinition[] = [eventSourceKind, callbackPolicyKind, webhookKind];

export * from './callbackpolicy.ts';
export * from './common.ts';
export * from './duration.ts';
export * from './eventsource.ts';
export * from './webhook.ts';
