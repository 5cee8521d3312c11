// The Kafka clients the dispatcher can consume with, by the name HOOKLINE_KAFKA_CLIENT gives.
import type { KafkaConsume } from './kafka-client.ts';
import { kafkajsConsume } from './kafka-kafkajs.ts';
import { platformaticConsume } from './kafka-platformatic.ts';

export const KAFKA_CLIENTS = {
  platformatic: platformaticConsume,
  kafkajs: kafkajsConsume,
} as const satisfies Record<string, KafkaConsume>;

export type KafkaClientName = keyof typeof KAFKA_CLIENTS;
