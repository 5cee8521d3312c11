// CallbackPolicy: how deliveries are attempted — retries, timeouts, what counts as success,
// ordering, concurrency and what happens when retries run out.
import { z } from 'zod';
import { ageColumn, commonStatusFields, readyColumn, resourceSchema, type KindDefinition } from './common.ts';
import { duration } from './duration.ts';
import { withRules } from './rules.ts';

export const Backoff = z
  .object({
    policy: z
      .enum(['exponential', 'linear'])
      .default('exponential')
      .describe('exponential: delay × 2^(n-1); linear: delay × n; both capped at max.'),
    delay: duration('The first retry delay.').default('5s'),
    max: duration('The longest delay between two attempts.').default('1h'),
    attempts: z.number().int().min(0).max(100).default(8).describe('Retries after the first attempt.'),
    jitter: z
      .number()
      .min(0)
      .max(1)
      .default(0.2)
      .describe('Random spread of each delay, as a fraction of it (0.2 = ±20%).'),
  })
  .describe('Computed retry delays.');

export const Retry = withRules(
  z
    .object({
      schedule: z
        .array(duration('A retry delay.'))
        .min(1)
        .max(50)
        .optional()
        .describe('Explicit retry delays, in order, e.g. ["30s", "5m", "15m", "1h"].'),
      backoff: Backoff.optional(),
    })
    .describe('When failed deliveries are retried: an explicit schedule, or a backoff.'),
  [
    {
      rule: '!(has(self.schedule) && has(self.backoff))',
      message: 'spec.retry.schedule and spec.retry.backoff are exclusive: set one of them',
      check: (retry) => !(retry.schedule !== undefined && retry.backoff !== undefined),
    },
  ],
);

const STATUS_CLASS = /^([245]xx|[245][0-9]{2})$/;
const RETRY_ON = /^(network|timeout|[45]xx|[45][0-9]{2})$/;

export const CallbackPolicySpec = z
  .object({
    retry: Retry.prefault({ backoff: {} }),
    retryAfterMax: duration(
      "The longest wait a receiver may ask for with Retry-After on 429 or 503; longer requests are capped. '0s' ignores Retry-After.",
    ).default('1h'),
    timeout: z
      .object({
        connect: duration('Time allowed to open the connection (TCP and TLS).', '5m').default('10s'),
        request: duration('Time allowed for the receiver to answer, once connected.', '5m').default('10s'),
      })
      .prefault({})
      .describe('Timeouts of one attempt.'),
    successCodes: z
      .array(
        z
          .string()
          .max(3)
          .regex(STATUS_CLASS, {
            message: 'must be a status such as 200 or a class such as 2xx (3xx is never a success)',
          })
          .describe('A status code or class.'),
      )
      .min(1)
      .max(32)
      .default(['2xx'])
      .describe(
        'Statuses that count as delivered: codes (204) or classes (2xx). 3xx is a failure; redirects are not followed.',
      ),
    retryOn: z
      .array(
        z
          .string()
          .max(7)
          .regex(RETRY_ON, {
            message: 'must be network, timeout, a status such as 429 or a class such as 5xx',
          })
          .describe('network, timeout, a status code or a status class.'),
      )
      .max(32)
      .default(['network', 'timeout', '408', '409', '425', '429', '5xx'])
      .describe('Failures that are retried; any other failure fails the message at once.'),
    onExhausted: z
      .object({
        deadLetter: z
          .boolean()
          .default(true)
          .describe("Move the message to the Webhook's dead-letter queue."),
        disableWebhook: z.boolean().default(false).describe('Disable the Webhook until it is re-enabled.'),
        purgeQueue: z.boolean().default(false).describe("Drop every message waiting in the Webhook's queue."),
      })
      .prefault({})
      .describe("What happens when a message's retries run out."),
    ordering: z
      .enum(['Unordered', 'Strict'])
      .default('Unordered')
      .describe(
        'Unordered: concurrent deliveries. Strict: per-Webhook FIFO; while the head event is retried, later events wait.',
      ),
    concurrency: z
      .number()
      .int()
      .min(1)
      .max(1000)
      .default(16)
      .describe('In-flight deliveries per Webhook (Unordered only; Strict delivers one at a time).'),
    rateLimit: z
      .object({
        perSecond: z.number().gt(0).max(100_000).describe('Sustained deliveries per second per Webhook.'),
        burst: z
          .number()
          .int()
          .min(1)
          .max(100_000)
          .default(1)
          .describe('Deliveries allowed at once above the rate.'),
      })
      .optional()
      .describe('A cap on the delivery rate of each Webhook.'),
    circuitBreaker: z
      .object({
        failures: z
          .number()
          .int()
          .min(1)
          .max(10_000)
          .default(5)
          .describe('Failed attempts within window that open the circuit.'),
        window: duration('The span over which failures are counted.').default('1m'),
        probeInterval: duration(
          'While open, one delivery is tried this often; its success closes the circuit.',
          '10m',
        ).default('30s'),
      })
      .optional()
      .describe(
        "Stop delivering to a receiver that keeps failing: while open, events wait in the Webhook's " +
          'queue without spending retries, and one probe delivery per probeInterval tells whether it is back. Off unless set.',
      ),
  })
  .describe('The desired state of the CallbackPolicy.');
export type CallbackPolicySpec = z.infer<typeof CallbackPolicySpec>;

export const CallbackPolicyStatus = z
  .object({
    ...commonStatusFields,
    webhooks: z.number().int().min(0).optional().describe('Number of Webhooks using this policy.'),
    retries: z.number().int().min(0).optional().describe('How many retries a failing message gets.'),
  })
  .describe('The observed state of the CallbackPolicy.');
export type CallbackPolicyStatus = z.infer<typeof CallbackPolicyStatus>;

export const CallbackPolicy = resourceSchema('CallbackPolicy', CallbackPolicySpec, CallbackPolicyStatus);
export type CallbackPolicy = z.infer<typeof CallbackPolicy>;

/** The policy of a Webhook that names none and whose namespace has no policy named `default`. */
export const builtInPolicy: CallbackPolicySpec = CallbackPolicySpec.parse({});

export const callbackPolicyKind: KindDefinition = {
  kind: 'CallbackPolicy',
  plural: 'callbackpolicies',
  singular: 'callbackpolicy',
  shortNames: ['cbp'],
  description:
    'A CallbackPolicy says how deliveries are attempted: retries, timeouts, success codes, ordering, ' +
    'concurrency and what happens when retries run out. A Webhook without policyRef uses the policy ' +
    'named "default" in its namespace, else the built-in defaults.',
  spec: CallbackPolicySpec,
  status: CallbackPolicyStatus,
  printerColumns: [
    { name: 'ORDERING', type: 'string', jsonPath: '.spec.ordering', description: 'Unordered or Strict.' },
    {
      name: 'RETRIES',
      type: 'integer',
      jsonPath: '.status.retries',
      description: 'Retries a failing message gets.',
    },
    { ...readyColumn, priority: 1 },
    { name: 'WEBHOOKS', type: 'integer', jsonPath: '.status.webhooks', description: 'Webhooks using it.' },
    ageColumn,
  ],
};
