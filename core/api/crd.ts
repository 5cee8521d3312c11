// Generates CustomResourceDefinitions from the zod schemas: structural OpenAPI v3 with
// defaults, enums, patterns, bounds and CEL rules, printer columns, short names, the
// `hookline` category and the status subresource. Pure: the same schemas give the same CRD.
import { z } from 'zod';
import { GROUP, VERSION, type KindDefinition } from './v1alpha1/common.ts';

type Schema = Record<string, unknown>;

function isSchema(value: unknown): value is Schema {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Options that are all constants (a union of literals) become one enum. */
function constantsToEnum(options: Schema[]): Schema | undefined {
  if (!options.every((option) => 'const' in option)) return undefined;
  const values = options.map((option) => option.const);
  const allIntegers = values.every((value) => Number.isInteger(value));
  const type = allIntegers ? 'integer' : typeof values[0] === 'number' ? 'number' : typeof values[0];
  return { type, enum: values };
}

/**
 * Turns zod's JSON Schema (draft 2020-12) into the structural OpenAPI v3 subset that
 * Kubernetes accepts: no $schema or propertyNames, no `additionalProperties: false`,
 * boolean exclusive bounds, constants as enums, and no type or anyOf under
 * x-kubernetes-preserve-unknown-fields / x-kubernetes-int-or-string.
 */
export function toStructural(input: Schema): Schema {
  const node: Schema = { ...input };
  delete node.$schema;
  delete node.propertyNames;
  if (node.additionalProperties === false) delete node.additionalProperties;

  if (node['x-kubernetes-preserve-unknown-fields'] === true || node['x-kubernetes-int-or-string'] === true) {
    delete node.anyOf;
    delete node.oneOf;
    if (node['x-kubernetes-int-or-string'] === true) delete node.type;
  }
  if (Array.isArray(node.anyOf)) {
    const merged = constantsToEnum(node.anyOf.filter(isSchema));
    if (!merged)
      throw new Error(`cannot express a union in a structural schema: ${JSON.stringify(node.anyOf)}`);
    delete node.anyOf;
    Object.assign(node, merged);
  }
  if ('const' in node) {
    node.enum = [node.const];
    delete node.const;
  }
  for (const bound of ['exclusiveMinimum', 'exclusiveMaximum'] as const) {
    if (typeof node[bound] === 'number') {
      node[bound === 'exclusiveMinimum' ? 'minimum' : 'maximum'] = node[bound];
      node[bound] = true;
    }
  }
  if (node.type === 'integer') {
    // zod adds the safe-integer range to every int; Kubernetes has no use for it.
    if (node.minimum === Number.MIN_SAFE_INTEGER) delete node.minimum;
    if (node.maximum === Number.MAX_SAFE_INTEGER) delete node.maximum;
  }

  if (isSchema(node.properties)) {
    node.properties = Object.fromEntries(
      Object.entries(node.properties).map(([key, value]) => [key, toStructural(value as Schema)]),
    );
  }
  if (isSchema(node.items)) node.items = toStructural(node.items);
  if (isSchema(node.additionalProperties))
    node.additionalProperties = toStructural(node.additionalProperties);
  if (Array.isArray(node.required) && node.required.length === 0) delete node.required;
  return node;
}

export function openApiSchema(schema: z.ZodType): Schema {
  return toStructural(z.toJSONSchema(schema, { io: 'input', unrepresentable: 'throw' }));
}

export interface CustomResourceDefinition {
  apiVersion: 'apiextensions.k8s.io/v1';
  kind: 'CustomResourceDefinition';
  metadata: { name: string; labels: Record<string, string> };
  spec: Schema;
}

export function customResourceDefinition(definition: KindDefinition): CustomResourceDefinition {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${definition.plural}.${GROUP}`,
      labels: { 'app.kubernetes.io/name': 'hookline', 'app.kubernetes.io/part-of': 'hookline' },
    },
    spec: {
      group: GROUP,
      scope: 'Namespaced',
      names: {
        kind: definition.kind,
        listKind: `${definition.kind}List`,
        plural: definition.plural,
        singular: definition.singular,
        shortNames: definition.shortNames,
        categories: ['hookline'],
      },
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: definition.printerColumns,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description: definition.description,
              required: ['spec'],
              properties: {
                apiVersion: {
                  type: 'string',
                  description: 'APIVersion of this object: hookline.dev/v1alpha1.',
                },
                kind: { type: 'string', description: `Kind of this object: ${definition.kind}.` },
                metadata: { type: 'object' },
                spec: openApiSchema(definition.spec),
                status: openApiSchema(definition.status),
              },
            },
          },
        },
      ],
    },
  };
}
