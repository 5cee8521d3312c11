// The request body and its content headers in the Webhook's payload format: the event
// byte for byte (raw), structured CloudEvents 1.0 JSON, or CloudEvents binary mode.
export interface OutgoingEvent {
  id: string;
  type: string;
  /** A URI reference naming the EventSource. */
  source: string;
  time: Date;
  body: Buffer;
  /** The parsed body, when it is JSON. */
  json?: unknown;
}

export interface Payload {
  body: Buffer;
  headers: Record<string, string>;
}

export function buildPayload(
  format: 'raw' | 'cloudevents' | 'cloudevents-binary',
  event: OutgoingEvent,
): Payload {
  const contentType = event.json === undefined ? 'application/octet-stream' : 'application/json';
  switch (format) {
    case 'raw':
      return { body: event.body, headers: { 'content-type': contentType } };
    case 'cloudevents': {
      const envelope: Record<string, unknown> = {
        specversion: '1.0',
        id: event.id,
        source: event.source,
        type: event.type,
        time: event.time.toISOString(),
        datacontenttype: contentType,
      };
      if (event.json !== undefined) envelope.data = event.json;
      else envelope.data_base64 = event.body.toString('base64');
      return {
        body: Buffer.from(JSON.stringify(envelope)),
        headers: { 'content-type': 'application/cloudevents+json' },
      };
    }
    case 'cloudevents-binary':
      return {
        body: event.body,
        headers: {
          'content-type': contentType,
          'ce-specversion': '1.0',
          'ce-id': event.id,
          'ce-source': event.source,
          'ce-type': event.type,
          'ce-time': event.time.toISOString(),
        },
      };
  }
}
