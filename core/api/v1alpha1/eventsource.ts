// EventSource: where events come from (a RabbitMQ exchange, a Kafka topic or an HTTP
// ingest endpoint) and the dispatcher Deployment that serves them.
import { z } from 'zod';
import {
  ageColumn,
  commonStatusFields,
  objectName,
  readyColumn,
  resourceSchema,
  secretKey,
  secretKeyReference,
  type KindDefinition,
} from './common.ts';
import { withRules } from './rules.ts';

const QueueType = z
  .enum(['quorum', 'classic'])
  .describe(
    "The type of the queues Hookline declares on this broker. Default: the operator's defaultQueueType (quorum). " +
      'Queues that exist keep their type.',
  );

const RabbitmqSource = withRules(
  z
    .object({
      connectionSecretRef: secretKeyReference(
        'The Secret entry holding the broker URI (amqp:// or amqps://).',
        'uri',
      ),
      exchange: z.string().min(1).max(255).describe('The exchange the events are published to.'),
      exchangeType: z
        .enum(['topic', 'direct', 'fanout', 'headers'])
        .default('topic')
        .describe('The type of the exchange.'),
      declare: z
        .boolean()
        .default(false)
        .describe(
          'Declare the exchange if it does not exist. When false the exchange must exist. ' +
            'Hookline never deletes an exchange it did not declare.',
        ),
      queueType: QueueType.optional(),
    })
    .describe('Events are read from a RabbitMQ exchange; the routing key is the event type.'),
  [
    {
      rule: "self.exchangeType != 'headers'",
      message: 'exchangeType: headers exchanges are not supported yet; use topic, direct or fanout',
      fieldPath: '.exchangeType',
      check: (source) => source.exchangeType !== 'headers',
    },
  ],
);

const KafkaTls = withRules(
  z
    .object({
      caSecretRef: secretKeyReference('The Secret entry holding the CA bundle (PEM).', 'ca.crt').optional(),
      certSecretRef: secretKeyReference(
        'The Secret entry holding the client certificate (PEM).',
        'tls.crt',
      ).optional(),
      keySecretRef: secretKeyReference(
        'The Secret entry holding the client key (PEM).',
        'tls.key',
      ).optional(),
      serverName: z.string().max(253).optional().describe('Server name to verify, when not the broker host.'),
      insecureSkipVerify: z
        .boolean()
        .default(false)
        .describe('Do not verify the broker certificate. For tests only.'),
    })
    .describe('TLS to the Kafka brokers.'),
  [
    {
      rule: 'has(self.certSecretRef) == has(self.keySecretRef)',
      message: 'spec.kafka.tls.certSecretRef and spec.kafka.tls.keySecretRef must be set together',
      check: (tls) => (tls.certSecretRef === undefined) === (tls.keySecretRef === undefined),
    },
  ],
);

const KafkaSasl = z
  .object({
    mechanism: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']).describe('The SASL mechanism.'),
    secretRef: z
      .object({
        name: objectName('Name of the Secret, in the same namespace.'),
        usernameKey: secretKey('Key of the username.').default('username'),
        passwordKey: secretKey('Key of the password.').default('password'),
      })
      .describe('The Secret holding the SASL username and password.'),
  })
  .describe('SASL authentication to the Kafka brokers.');

const KafkaSource = z
  .object({
    brokers: z
      .array(
        z
          .string()
          .regex(/^[^\s:/]+:[0-9]{1,5}$/, { message: 'must be host:port' })
          .max(260)
          .describe('A broker, as host:port.'),
      )
      .min(1)
      .max(32)
      .describe('Bootstrap brokers, as host:port.'),
    topic: z
      .string()
      .regex(/^[a-zA-Z0-9._-]{1,249}$/, { message: 'must be a Kafka topic name' })
      .describe('The topic to consume.'),
    groupId: z
      .string()
      .min(1)
      .max(255)
      .optional()
      .describe('The consumer group. Default: hookline.<namespace>.<name>.'),
    startFrom: z
      .enum(['latest', 'earliest'])
      .default('latest')
      .describe('Where a new consumer group starts: latest or earliest.'),
    tls: KafkaTls.optional(),
    sasl: KafkaSasl.optional(),
  })
  .describe('Events are read from a Kafka topic by a consumer group.');

const HttpSource = z
  .object({
    authSecretRef: secretKeyReference(
      'The Secret entry holding the bearer tokens producers must present, one per line.',
      'tokens',
    ),
  })
  .describe('Events are posted to the dispatcher over HTTP, through a Service in front of it.');

const TEMPLATE = /^([^{}]*\{\/[^{}]*\})+[^{}]*$/;

export const EventTypeRule = withRules(
  z
    .object({
      template: z
        .string()
        .min(1)
        .max(256)
        .regex(TEMPLATE, {
          message: 'must be a template of JSON pointers such as "{/type}" or "{/eventType}.{/action}"',
        })
        .optional()
        .describe(
          'A template of JSON pointers into the event, such as "{/type}" or "{/eventType}.{/action}".',
        ),
      header: z
        .string()
        .min(1)
        .max(256)
        .regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, { message: 'must be a header name' })
        .optional()
        .describe('A Kafka record header or HTTP request header carrying the event type, such as "type".'),
    })
    .describe(
      'How the event type (the routing key) of a Kafka record or HTTP request is derived: {template: "{/type}"} ' +
        'or {header: "type"}. Default: {template: "{/type}"}. Not used by RabbitMQ sources, whose routing key is ' +
        'the event type.',
    ),
  [
    {
      rule: 'has(self.template) != has(self.header)',
      message: 'spec.eventType takes exactly one of template or header',
      check: (rule) => (rule.template === undefined) !== (rule.header === undefined),
    },
  ],
);

const Quantity = z.union([z.number(), z.string()]).meta({ 'x-kubernetes-int-or-string': true });

const Dispatcher = z
  .object({
    replicas: z.number().int().min(0).max(100).default(1).describe('Number of dispatcher replicas.'),
    resources: z
      .object({
        limits: z.record(z.string(), Quantity).optional().describe('Resource limits (cpu, memory).'),
        requests: z.record(z.string(), Quantity).optional().describe('Resource requests (cpu, memory).'),
      })
      .optional()
      .describe('Compute resources of the dispatcher container.'),
    image: z.string().min(1).max(1024).optional().describe("Dispatcher image; default: the operator's own."),
    maxEventBytes: z
      .number()
      .int()
      .min(1024)
      .max(16 * 1024 * 1024)
      .default(1024 * 1024)
      .describe('Largest accepted event, in bytes; larger events are dead-lettered. Default 1 MiB.'),
  })
  .describe('The dispatcher Deployment that serves this source.');

export const EventSourceSpec = withRules(
  z
    .object({
      rabbitmq: RabbitmqSource.optional(),
      kafka: KafkaSource.optional(),
      http: HttpSource.optional(),
      eventType: EventTypeRule.optional(),
      broker: z
        .object({
          connectionSecretRef: secretKeyReference(
            "The Secret entry holding the URI of the RabbitMQ that holds Hookline's queues.",
            'uri',
          ),
          queueType: QueueType.optional(),
        })
        .optional()
        .describe(
          "For kafka and http sources: the RabbitMQ that holds Hookline's queues. Default: the operator's broker.",
        ),
      dispatcher: Dispatcher.prefault({}),
    })
    .describe('The desired state of the EventSource.'),
  [
    {
      rule: '[has(self.rabbitmq), has(self.kafka), has(self.http)].filter(x, x).size() == 1',
      message: 'exactly one of spec.rabbitmq, spec.kafka or spec.http must be set',
      check: (spec) => [spec.rabbitmq, spec.kafka, spec.http].filter((s) => s !== undefined).length === 1,
    },
    {
      rule: '!has(self.broker) || !has(self.rabbitmq)',
      message:
        'spec.broker applies to kafka and http sources only: a rabbitmq source keeps its queues on its own broker',
      fieldPath: '.broker',
      check: (spec) => spec.broker === undefined || spec.rabbitmq === undefined,
    },
    {
      rule: '!has(self.eventType) || !has(self.rabbitmq)',
      message:
        'spec.eventType applies to kafka and http sources only: for rabbitmq the routing key is the event type',
      fieldPath: '.eventType',
      check: (spec) => spec.eventType === undefined || spec.rabbitmq === undefined,
    },
  ],
);
export type EventSourceSpec = z.infer<typeof EventSourceSpec>;

export const EventSourceStatus = z
  .object({
    ...commonStatusFields,
    sourceType: z.enum(['rabbitmq', 'kafka', 'http']).optional().describe('Which kind of source this is.'),
    dispatcher: z
      .object({
        replicas: z.number().int().min(0).describe('Desired dispatcher replicas.'),
        readyReplicas: z.number().int().min(0).describe('Dispatcher replicas that are ready.'),
      })
      .optional()
      .describe('The dispatcher Deployment.'),
    webhooks: z.number().int().min(0).optional().describe('Number of Webhooks bound to this source.'),
    endpoint: z
      .string()
      .optional()
      .describe('For http sources: the in-cluster URL producers post events to.'),
    brokerCredentials: z
      .object({
        user: z.string().describe("The dispatcher's RabbitMQ user on the operator's default broker."),
        rotation: z
          .string()
          .optional()
          .describe('The last value of the hookline.dev/rotate-credentials annotation carried out.'),
        rotatedAt: z.string().optional().describe('When the password was last rotated on request.'),
      })
      .optional()
      .describe(
        "Sources on the operator's default broker: the user of their own their dispatcher connects as (its password is in the Secret hookline-broker-<name>).",
      ),
  })
  .describe('The observed state of the EventSource.');
export type EventSourceStatus = z.infer<typeof EventSourceStatus>;

export const EventSource = resourceSchema('EventSource', EventSourceSpec, EventSourceStatus);
export type EventSource = z.infer<typeof EventSource>;

export const eventSourceKind: KindDefinition = {
  kind: 'EventSource',
  plural: 'eventsources',
  singular: 'eventsource',
  shortNames: ['evs'],
  description:
    'An EventSource says where events come from (a RabbitMQ exchange, a Kafka topic or HTTP ingest) ' +
    'and runs the dispatcher that delivers them to its Webhooks.',
  spec: EventSourceSpec,
  status: EventSourceStatus,
  printerColumns: [
    { name: 'TYPE', type: 'string', jsonPath: '.status.sourceType', description: 'rabbitmq, kafka or http.' },
    readyColumn,
    { name: 'WEBHOOKS', type: 'integer', jsonPath: '.status.webhooks', description: 'Webhooks bound to it.' },
    {
      name: 'REPLICAS',
      type: 'integer',
      jsonPath: '.spec.dispatcher.replicas',
      description: 'Desired dispatcher replicas.',
    },
    {
      name: 'AVAILABLE',
      type: 'integer',
      jsonPath: '.status.dispatcher.readyReplicas',
      description: 'Ready dispatcher replicas.',
      priority: 1,
    },
    ageColumn,
  ],
};
