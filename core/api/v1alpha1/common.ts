// Pieces shared by the three kinds: references, the metav1.Condition shape, object metadata.
import { z } from 'zod';

export const GROUP = 'hookline.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const SECRET_KEY = /^[-._a-zA-Z0-9]+$/;

export function objectName(description: string) {
  return z
    .string()
    .min(1)
    .max(253)
    .regex(DNS_SUBDOMAIN, { message: 'must be a lowercase RFC 1123 subdomain name' })
    .describe(description);
}

export function secretKey(description: string) {
  return z
    .string()
    .min(1)
    .max(253)
    .regex(SECRET_KEY, { message: "must consist of alphanumerics, '-', '_' or '.'" })
    .describe(description);
}

export const LocalObjectReference = z
  .object({ name: objectName('Name of the object, in the same namespace.') })
  .describe('A reference to an object in the same namespace.');

export function secretKeyReference(description: string, defaultKey?: string) {
  const key = secretKey('Key of the entry in the Secret.');
  return z
    .object({
      name: objectName('Name of the Secret, in the same namespace.'),
      key: defaultKey === undefined ? key : key.default(defaultKey),
    })
    .describe(description);
}

export const ConditionStatus = z.enum(['True', 'False', 'Unknown']);

export const Condition = z
  .object({
    type: z.string().min(1).max(316).describe('Type of condition, in CamelCase (Ready, Stalled, ...).'),
    status: ConditionStatus.describe('True, False or Unknown.'),
    reason: z
      .string()
      .min(1)
      .max(1024)
      .regex(/^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/)
      .describe('Machine-readable reason for the last transition, in CamelCase.'),
    message: z.string().max(32768).describe('Human-readable details of the last transition.'),
    observedGeneration: z
      .number()
      .int()
      .min(0)
      .optional()
      .describe('The .metadata.generation the condition was set for.'),
    lastTransitionTime: z.string().describe('When the condition last changed status (RFC 3339).'),
  })
  .describe('A condition in the metav1.Condition shape.');
export type Condition = z.infer<typeof Condition>;

export const commonStatusFields = {
  observedGeneration: z
    .number()
    .int()
    .min(0)
    .optional()
    .describe('The .metadata.generation that the controller last acted on.'),
  conditions: z
    .array(Condition)
    .max(16)
    .optional()
    .meta({
      description: 'The latest observations of the object, in the metav1.Condition shape.',
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['type'],
    }),
};

/** The metadata fields the operator reads; everything else is kept as it is. */
export const ObjectMeta = z.looseObject({
  name: z.string(),
  namespace: z.string().optional(),
  uid: z.string().optional(),
  generation: z.number().int().optional(),
  resourceVersion: z.string().optional(),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  finalizers: z.array(z.string()).optional(),
  deletionTimestamp: z.union([z.string(), z.date()]).optional(),
  creationTimestamp: z.union([z.string(), z.date()]).optional(),
});

/** The whole object of a kind, as read from the cluster: the schema operator and dispatcher validate with. */
export function resourceSchema<K extends string, Spec extends z.ZodType, Status extends z.ZodType>(
  kind: K,
  spec: Spec,
  status: Status,
) {
  return z.object({
    apiVersion: z.literal(API_VERSION),
    kind: z.literal(kind),
    metadata: ObjectMeta,
    spec,
    status: status.optional(),
  });
}

/** A printer column of `kubectl get`. */
export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  jsonPath: string;
  description: string;
  priority?: number;
}

/** Everything the CRD generator needs to know about a kind. */
export interface KindDefinition {
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  description: string;
  spec: z.ZodType;
  status: z.ZodType;
  printerColumns: PrinterColumn[];
}

export const readyColumn: PrinterColumn = {
  name: 'READY',
  type: 'string',
  jsonPath: '.status.conditions[?(@.type=="Ready")].status',
  description: 'Whether the object is ready.',
};

export const ageColumn: PrinterColumn = {
  name: 'AGE',
  type: 'date',
  jsonPath: '.metadata.creationTimestamp',
  description: 'Time since the object was created.',
};
