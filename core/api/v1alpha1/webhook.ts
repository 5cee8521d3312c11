// Webhook: one receiver of events — which events, where to, signed and authenticated how,
// and the delivery status an SRE reads in `kubectl get webhooks`.
import { z } from 'zod';
import {
  ageColumn,
  commonStatusFields,
  LocalObjectReference,
  objectName,
  readyColumn,
  resourceSchema,
  secretKey,
  secretKeyReference,
  type KindDefinition,
} from './common.ts';
import { duration } from './duration.ts';
import { withRules } from './rules.ts';

export const SIGNING_SCHEMES = [
  'standard-webhooks',
  'hmac-sha256',
  'rsa-sha256',
  'ed25519',
  'stellar',
  'none',
] as const;
export type SigningScheme = (typeof SIGNING_SCHEMES)[number];

/** Headers Hookline sets itself; a Webhook's static headers may not override them. */
export const RESERVED_HEADERS = [
  'content-length',
  'host',
  'transfer-encoding',
  'connection',
  'webhook-id',
  'webhook-timestamp',
  'webhook-signature',
  'hookline-event-id',
  'hookline-event-type',
  'hookline-attempt',
  'traceparent',
  'tracestate',
] as const;

/**
 * Caps on the free-text status fields the dispatcher writes. A value over its cap would
 * make the API server refuse every status write of the Webhook, so the dispatcher cuts
 * what it writes to these lengths (in characters, as the API server counts them).
 */
export const ATTEMPT_ERROR_MAX_LENGTH = 1024;
/**
 * Room for "Disabled after N failed retries (last: <error>)" with an error at its cap: no
 * reason written before this cap existed (always beside its attempt, so its error fitted)
 * is over it, so no stored Webhook turns invalid.
 */
export const DISABLED_REASON_MAX_LENGTH = 2048;
/** The first bytes of a failed response's body kept in an attempt record. */
export const RESPONSE_BODY_MAX_LENGTH = 1024;
/** A response header value kept in an attempt record. */
export const RESPONSE_HEADER_MAX_LENGTH = 256;

const TOPIC_WORD = '(\\*|#|[^.*#\\s]+)';
const TOPIC_PATTERN = new RegExp(`^${TOPIC_WORD}(\\.${TOPIC_WORD})*$`);
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;

const SecretWithKeys = withRules(
  z
    .object({
      name: objectName('Name of the Secret, in the same namespace.'),
      key: secretKey('Key of the entry holding the signing secret or private key.').optional(),
      keys: z
        .array(secretKey('Key of an entry holding a signing secret.'))
        .min(1)
        .max(8)
        .optional()
        .describe(
          'standard-webhooks and ed25519: every listed entry signs, so a secret can be rotated without downtime.',
        ),
    })
    .describe(
      'The Secret holding the signing secret or private key. Default key: "secret" ("privateKey" for ' +
        'rsa-sha256, "seed" for stellar).',
    ),
  [
    {
      rule: '!(has(self.key) && has(self.keys))',
      message: 'spec.signing.secretRef.key and spec.signing.secretRef.keys are exclusive',
      check: (ref) => !(ref.key !== undefined && ref.keys !== undefined),
    },
  ],
);

export const Signing = withRules(
  z
    .object({
      scheme: z
        .enum(SIGNING_SCHEMES)
        .default('standard-webhooks')
        .describe(
          'standard-webhooks (HMAC-SHA256, webhook-* headers), hmac-sha256 (sha256=<hex> of the body), ' +
            'rsa-sha256 (PKCS#1 v1.5), ed25519 (Standard Webhooks v1a), stellar (Stellar Anchor Platform), or none.',
        ),
      secretRef: SecretWithKeys.optional(),
      generate: z
        .boolean()
        .optional()
        .describe(
          'The operator creates the Secret (owned by the Webhook); for asymmetric schemes the public key is ' +
            'published in status.signing.publicKey. Implied when neither secretRef nor generate is set.',
        ),
      header: z
        .string()
        .regex(HEADER_NAME, { message: 'must be an HTTP header name' })
        .max(256)
        .optional()
        .describe(
          'hmac-sha256 and rsa-sha256: the signature header (X-Hookline-Signature, Content-Signature).',
        ),
      encoding: z
        .enum(['base64url', 'base64', 'hex'])
        .optional()
        .describe('rsa-sha256: encoding of the signature (default base64url).'),
      format: z
        .enum(['content-signature', 'plain'])
        .optional()
        .describe(
          'rsa-sha256: "content-signature" sends alg=RS256; digest=<sig> (default), "plain" sends the bare ' +
            'signature (the older X-Signature form).',
        ),
      keySize: z
        .union([z.literal(1024), z.literal(2048), z.literal(3072), z.literal(4096)])
        .optional()
        .describe('rsa-sha256 with generate: the RSA key size (default 2048).'),
      legacyHeader: z
        .boolean()
        .optional()
        .describe('stellar: also send the legacy X-Stellar-Signature header.'),
    })
    .describe('How each delivery is signed.'),
  [
    {
      rule: "self.scheme != 'none' || (!has(self.secretRef) && !has(self.generate))",
      message: 'spec.signing.secretRef and spec.signing.generate do not apply to scheme none',
      check: (s) => s.scheme !== 'none' || (s.secretRef === undefined && s.generate === undefined),
    },
    {
      rule: '!(has(self.secretRef) && has(self.generate) && self.generate)',
      message: 'spec.signing.secretRef and spec.signing.generate: true are exclusive',
      check: (s) => !(s.secretRef !== undefined && s.generate === true),
    },
    {
      rule: "!has(self.secretRef) || !has(self.secretRef.keys) || self.scheme in ['standard-webhooks', 'ed25519']",
      message: 'spec.signing.secretRef.keys applies to the standard-webhooks and ed25519 schemes only',
      check: (s) =>
        s.secretRef?.keys === undefined || s.scheme === 'standard-webhooks' || s.scheme === 'ed25519',
    },
    {
      rule: "!has(self.header) || self.scheme in ['hmac-sha256', 'rsa-sha256']",
      message: 'spec.signing.header applies to the hmac-sha256 and rsa-sha256 schemes only',
      check: (s) => s.header === undefined || s.scheme === 'hmac-sha256' || s.scheme === 'rsa-sha256',
    },
    {
      rule: "(!has(self.encoding) && !has(self.format) && !has(self.keySize)) || self.scheme == 'rsa-sha256'",
      message: 'spec.signing.encoding, format and keySize apply to the rsa-sha256 scheme only',
      check: (s) =>
        (s.encoding === undefined && s.format === undefined && s.keySize === undefined) ||
        s.scheme === 'rsa-sha256',
    },
    {
      rule: "!has(self.legacyHeader) || self.scheme == 'stellar'",
      message: 'spec.signing.legacyHeader applies to the stellar scheme only',
      check: (s) => s.legacyHeader === undefined || s.scheme === 'stellar',
    },
  ],
);

export const Auth = withRules(
  z
    .object({
      jwt: z
        .object({
          secretRef: secretKeyReference('The Secret entry holding the HS256 key.', 'secret'),
          expiration: duration('Lifetime of each token (the exp claim).', '24h').default('30s'),
          header: z
            .string()
            .regex(HEADER_NAME, { message: 'must be an HTTP header name' })
            .max(256)
            .default('Authorization')
            .describe('The header carrying "Bearer <jwt>".'),
        })
        .optional()
        .describe('A fresh HS256 JWT (claims iat and exp) on every request.'),
      apiKey: z
        .object({
          secretRef: secretKeyReference('The Secret entry holding the API key.', 'apiKey'),
          header: z
            .string()
            .regex(HEADER_NAME, { message: 'must be an HTTP header name' })
            .max(256)
            .default('X-Api-Key')
            .describe('The header carrying the key.'),
        })
        .optional()
        .describe('An API key in a header.'),
      basic: z
        .object({
          secretRef: z
            .object({
              name: objectName('Name of the Secret, in the same namespace.'),
              usernameKey: secretKey('Key of the username.').default('username'),
              passwordKey: secretKey('Key of the password.').default('password'),
            })
            .describe('The Secret holding the username and password.'),
        })
        .optional()
        .describe('HTTP Basic authentication.'),
      bearer: z
        .object({ secretRef: secretKeyReference('The Secret entry holding the token.', 'token') })
        .optional()
        .describe('A static bearer token.'),
    })
    .describe('How each delivery authenticates to the receiver.'),
  [
    {
      rule: '[has(self.jwt), has(self.apiKey), has(self.basic), has(self.bearer)].filter(x, x).size() == 1',
      message: 'spec.auth takes exactly one of jwt, apiKey, basic or bearer',
      check: (a) => [a.jwt, a.apiKey, a.basic, a.bearer].filter((x) => x !== undefined).length === 1,
    },
  ],
);

const MatchValue = z
  .union([
    z.string(),
    z.number(),
    z.boolean(),
    z.null(),
    z.array(z.union([z.string(), z.number(), z.boolean(), z.null()])),
  ])
  .meta({
    // Any JSON scalar or list: the API server cannot give such a value a CEL type, so the
    // keys of `match` are checked by the operator (Ready=False, InvalidSpec), not at apply.
    description: 'An allowed value, or a list of allowed values.',
    'x-kubernetes-preserve-unknown-fields': true,
  });

const URL_WITH_CREDENTIALS = /^https?:\/\/[^/?#]*@/;

const headerRule = (name: string) => !(RESERVED_HEADERS as readonly string[]).includes(name.toLowerCase());

export const WebhookSpec = withRules(
  z
    .object({
      sourceRef: LocalObjectReference.describe(
        'The EventSource, in the same namespace, whose events this Webhook receives.',
      ),
      url: z
        .string()
        .max(2048)
        .regex(/^https?:\/\/[^\s/?#]+([/?#][^\s]*)?$/, {
          message: 'must be an absolute http:// or https:// URL',
        })
        .describe(
          "Where events are POSTed. https by default; http only where the operator's install values allow it. " +
            'Addresses in loopback, private, link-local or metadata ranges are refused unless allowed.',
        ),
      events: z
        .array(
          z
            .string()
            .min(1)
            .max(255)
            .regex(TOPIC_PATTERN, {
              message: 'must be a topic pattern such as invoice.* or midaz.transaction.#',
            })
            .describe('A topic pattern.'),
        )
        .min(1)
        .max(64)
        .describe('Event types to receive: topic patterns where * matches one word and # zero or more.'),
      match: z
        .record(
          z.string().regex(/^\//, { message: 'keys must be JSON pointers such as /shop_id' }),
          MatchValue,
        )
        .optional()
        .meta({ maxProperties: 32 })
        .describe(
          'Only events whose fields have these values: JSON pointer → allowed value(s), e.g. {"/shop_id": 55}.',
        ),
      headers: z
        .record(
          z.string().regex(HEADER_NAME, { message: 'keys must be HTTP header names' }),
          z.string().max(8192),
        )
        .optional()
        .meta({ maxProperties: 32 })
        .describe('Static headers added to every delivery.'),
      policyRef: LocalObjectReference.optional().describe(
        'The CallbackPolicy to use. Default: the policy named "default" in the namespace, else the built-in defaults.',
      ),
      suspend: z.boolean().default(false).describe('Stop delivering; events wait in the queue.'),
      phase: z
        .enum(['After', 'Before'])
        .default('After')
        .describe(
          'After: asynchronous delivery with retries. Before: called synchronously before the action by the HTTP ' +
            "source's gate, never retried; the action proceeds only on expectedStatus.",
        ),
      expectedStatus: z
        .number()
        .int()
        .min(100)
        .max(599)
        .optional()
        .describe('phase Before: the status that allows the action (default 200).'),
      payload: z
        .object({
          format: z
            .enum(['raw', 'cloudevents', 'cloudevents-binary'])
            .default('raw')
            .describe(
              'raw: the event body byte for byte; cloudevents: structured CloudEvents 1.0 JSON; ' +
                'cloudevents-binary: the body with ce-* headers.',
            ),
        })
        .prefault({})
        .describe('The shape of the request body.'),
      signing: Signing.prefault({}),
      auth: Auth.optional(),
    })
    .describe('The desired state of the Webhook.'),
  [
    {
      // Credentials in the URL would be shown by kubectl, logged and kept in status.
      rule: "!self.url.matches('^https?://[^/?#]*@')",
      message:
        'spec.url may not carry credentials (user:password@host): put them in spec.auth (basic or bearer) instead',
      fieldPath: '.url',
      check: (s) => !URL_WITH_CREDENTIALS.test(s.url),
    },
    {
      rule: "!has(self.expectedStatus) || self.phase == 'Before'",
      message: 'spec.expectedStatus applies to phase: Before only',
      fieldPath: '.expectedStatus',
      check: (s) => s.expectedStatus === undefined || s.phase === 'Before',
    },
    {
      rule:
        '!has(self.headers) || self.headers.all(k, !(k.lowerAscii() in [' +
        RESERVED_HEADERS.map((h) => `'${h}'`).join(', ') +
        ']))',
      message: `spec.headers may not set a header Hookline sets itself (${RESERVED_HEADERS.join(', ')})`,
      fieldPath: '.headers',
      check: (s) => Object.keys(s.headers ?? {}).every(headerRule),
    },
  ],
);
export type WebhookSpec = z.infer<typeof WebhookSpec>;

const Attempt = z
  .object({
    time: z.string().describe('When the attempt started (RFC 3339).'),
    eventId: z.string().describe('The event id.'),
    eventType: z.string().optional().describe('The event type.'),
    attempt: z.number().int().min(1).describe('1 for the first attempt, 2 for the first retry, ...'),
    statusCode: z.number().int().optional().describe("The receiver's HTTP status, when it answered."),
    durationMs: z.number().int().min(0).optional().describe('How long the attempt took.'),
    outcome: z
      .enum(['Succeeded', 'Failed', 'Retrying', 'DeadLettered', 'Denied', 'Allowed', 'Held'])
      .optional()
      .describe(
        'What came of the attempt. Held: it failed while the circuit breaker was open; the event went back to its queue with its retries untouched.',
      ),
    error: z.string().max(ATTEMPT_ERROR_MAX_LENGTH).optional().describe('Why the attempt failed.'),
    responseHeaders: z
      .object({
        retryAfter: z.string().max(RESPONSE_HEADER_MAX_LENGTH).optional().describe('Retry-After.'),
        contentType: z.string().max(RESPONSE_HEADER_MAX_LENGTH).optional().describe('Content-Type.'),
      })
      .optional()
      .describe("Selected headers of the receiver's response."),
    responseBody: z
      .string()
      .max(RESPONSE_BODY_MAX_LENGTH)
      .optional()
      .describe("The first 1 KiB of a failed response's body (decoded as UTF-8)."),
  })
  .describe('One delivery attempt.');

export const WebhookStatus = z
  .object({
    ...commonStatusFields,
    disabled: z
      .boolean()
      .optional()
      .describe('Delivery is stopped after retries ran out; see disabledReason.'),
    disabledReason: z
      .string()
      .max(DISABLED_REASON_MAX_LENGTH)
      .optional()
      .describe('Why the Webhook was disabled.'),
    disabledAt: z.string().optional().describe('When the Webhook was disabled (RFC 3339).'),
    queue: z.string().optional().describe("The RabbitMQ queue holding this Webhook's events."),
    deliveries: z
      .object({
        succeeded: z.number().int().min(0).default(0).describe('Events delivered.'),
        failed: z.number().int().min(0).default(0).describe('Events that failed for good.'),
        retried: z.number().int().min(0).default(0).describe('Attempts that were followed by a retry.'),
        deadLettered: z.number().int().min(0).default(0).describe('Events moved to the dead-letter queue.'),
        filtered: z.number().int().min(0).default(0).describe('Events skipped by match.'),
      })
      .optional()
      .describe('Delivery counters.'),
    attempts: z.number().int().min(0).optional().describe('Every attempt made, retries included.'),
    consecutiveFailures: z
      .number()
      .int()
      .min(0)
      .optional()
      .describe('Failed attempts since the last success.'),
    lastAttempt: Attempt.optional(),
    lastSuccessTime: z.string().optional().describe('When an event was last delivered (RFC 3339).'),
    recentAttempts: z
      .array(Attempt)
      .max(20)
      .optional()
      .describe('The activation history: the latest attempts, newest first (at most 20).'),
    signing: z
      .object({
        publicKey: z.string().optional().describe('The public key receivers verify with (PEM or strkey).'),
      })
      .optional()
      .describe('Signing details receivers need.'),
    topology: z
      .object({
        broker: z
          .string()
          .describe('Where the queues live: the Secret entry holding the broker URI, or "default".'),
        exchange: z.string().describe('The exchange the queue is bound to.'),
        bindings: z.array(z.string().describe('A bound pattern.')).describe('The patterns bound.'),
        version: z
          .number()
          .int()
          .min(1)
          .optional()
          .describe(
            '3 for the topology with shared delay queues whose dead-letter and head queues are bound on the namespace direct exchange (2: not bound there yet); absent when the first version of Hookline applied it.',
          ),
        queueType: z.enum(['quorum', 'classic']).optional().describe("The type of the Webhook's queues."),
        head: z.boolean().optional().describe('Whether a head queue exists (Strict ordering).'),
        retryQueues: z
          .number()
          .int()
          .min(0)
          .optional()
          .describe("The first version's per-level retry queues, drained and deleted on upgrade."),
        returnTo: z.string().optional().describe("Where the first version's retries returned to."),
      })
      .optional()
      .describe('The RabbitMQ topology the operator last applied.'),
    circuit: z
      .object({
        state: z
          .enum(['Closed', 'Open'])
          .describe('Open: deliveries are held in the queue and one probe is sent per probeInterval.'),
        openedAt: z.string().optional().describe('When the circuit last opened (RFC 3339).'),
        nextProbeAt: z.string().optional().describe('When the next probe is due while open (RFC 3339).'),
        reason: z.string().max(ATTEMPT_ERROR_MAX_LENGTH).optional().describe('The failures that opened it.'),
      })
      .optional()
      .describe("The circuit breaker's state, when the CallbackPolicy has one."),
    backlog: z
      .object({
        waiting: z.number().int().min(0).describe("Events waiting in the Webhook's queue (head included)."),
        deadLettered: z.number().int().min(0).describe('Events in its dead-letter queue.'),
        deliveredPerMinute: z
          .number()
          .int()
          .min(0)
          .optional()
          .describe('Deliveries per minute of the replica that sampled, over its last sampling interval.'),
        observedAt: z.string().describe('When the broker was asked (RFC 3339).'),
      })
      .optional()
      .describe('What waits for this Webhook on the broker, sampled by the dispatcher.'),
    lastTest: z
      .object({
        token: z.string().describe('The hookline.dev/send-test token this answers.'),
        time: z.string().describe('When the test event was sent (RFC 3339).'),
        eventId: z.string().describe("The test event's id."),
        statusCode: z.number().int().optional().describe("The receiver's HTTP status, when it answered."),
        durationMs: z.number().int().min(0).optional().describe('How long the attempt took.'),
        outcome: z.enum(['Succeeded', 'Failed']).describe('Whether the receiver accepted it.'),
        error: z.string().max(ATTEMPT_ERROR_MAX_LENGTH).optional().describe('Why it failed.'),
        responseBody: z
          .string()
          .max(RESPONSE_BODY_MAX_LENGTH)
          .optional()
          .describe("The first 1 KiB of the response's body."),
      })
      .optional()
      .describe('The answer to the last synthetic test event (kubectl hookline send-test).'),
    handledAnnotations: z
      .object({
        reenable: z.string().optional().describe('The last hookline.dev/reenable token acted on.'),
        replay: z.string().optional().describe('The last hookline.dev/replay token acted on.'),
      })
      .optional()
      .describe('Annotation tokens the operator has acted on.'),
  })
  .describe('The observed state of the Webhook.');
export type WebhookStatus = z.infer<typeof WebhookStatus>;

export const Webhook = resourceSchema('Webhook', WebhookSpec, WebhookStatus);
export type Webhook = z.infer<typeof Webhook>;

export const webhookKind: KindDefinition = {
  kind: 'Webhook',
  plural: 'webhooks',
  singular: 'webhook',
  shortNames: ['wh'],
  description:
    'A Webhook delivers the events of an EventSource that match its patterns to one URL, signed and ' +
    'authenticated the way the receiver expects, retried on its CallbackPolicy.',
  spec: WebhookSpec,
  status: WebhookStatus,
  printerColumns: [
    { name: 'URL', type: 'string', jsonPath: '.spec.url', description: 'Where events are delivered.' },
    { name: 'SOURCE', type: 'string', jsonPath: '.spec.sourceRef.name', description: 'The EventSource.' },
    readyColumn,
    {
      name: 'DISABLED',
      type: 'boolean',
      jsonPath: '.status.disabled',
      description: 'Disabled after retries ran out.',
    },
    {
      name: 'CIRCUIT',
      type: 'string',
      jsonPath: '.status.circuit.state',
      description: 'Open while the circuit breaker holds deliveries back.',
      // The default columns are the SPEC's; this one shows with -o wide.
      priority: 1,
    },
    {
      name: 'WAITING',
      type: 'integer',
      jsonPath: '.status.backlog.waiting',
      description: 'Events waiting in its queue, as last sampled.',
      priority: 1,
    },
    {
      name: 'DELIVERED',
      type: 'integer',
      jsonPath: '.status.deliveries.succeeded',
      description: 'Events delivered.',
    },
    {
      name: 'FAILED',
      type: 'integer',
      jsonPath: '.status.deliveries.failed',
      description: 'Events failed for good.',
    },
    {
      name: 'LAST-STATUS',
      type: 'integer',
      jsonPath: '.status.lastAttempt.statusCode',
      description: "The receiver's status on the last attempt.",
    },
    {
      name: 'LAST-ATTEMPT',
      type: 'date',
      jsonPath: '.status.lastAttempt.time',
      description: 'When the last attempt was made.',
    },
    ageColumn,
  ],
};
