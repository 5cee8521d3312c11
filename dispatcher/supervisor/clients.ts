// The HTTP clients of a dispatcher's hooks: one pooled client per connect timeout, shared
// by the workers and Before hooks that use it, and closed together on shutdown.
import type { AddressPolicy } from '../deliver/address-policy.ts';
import { HttpClient } from '../deliver/http.ts';

export class HttpClients {
  readonly #policy: AddressPolicy;
  readonly #clients = new Map<number, HttpClient>();

  constructor(policy: AddressPolicy) {
    this.#policy = policy;
  }

  /** The client of hooks with this connect timeout, created on first use. */
  for(connectTimeoutMs: number): HttpClient {
    let client = this.#clients.get(connectTimeoutMs);
    if (!client) {
      client = new HttpClient({ policy: this.#policy, connectTimeoutMs });
      this.#clients.set(connectTimeoutMs, client);
    }
    return client;
  }

  async close(): Promise<void> {
    await Promise.all([...this.#clients.values()].map((client) => client.close()));
  }
}
