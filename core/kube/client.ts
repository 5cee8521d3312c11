// A small Kubernetes REST client on undici: JSON requests, server-side apply, JSON Patch,
// the status subresource, and watch streams read line by line. Credentials come from a
// KubeConfig (in-cluster or a kubeconfig file) and are re-applied on every request, so a
// rotated service-account token is picked up.
import type https from 'node:https';
import type { KubeAccess } from './config.ts';
import { Agent, request, type Dispatcher } from 'undici';
import { HooklineError } from '../errors.ts';
import { JsonLines } from './watch-lines.ts';

export interface ResourceRef {
  group: string; // '' for the core API
  version: string;
  plural: string;
  namespace?: string;
  name?: string;
  subresource?: string;
}

export function resourcePath(ref: ResourceRef): string {
  const base = ref.group === '' ? `/api/${ref.version}` : `/apis/${ref.group}/${ref.version}`;
  const namespaced = ref.namespace ? `${base}/namespaces/${encodeURIComponent(ref.namespace)}` : base;
  const named = ref.name
    ? `${namespaced}/${ref.plural}/${encodeURIComponent(ref.name)}`
    : `${namespaced}/${ref.plural}`;
  return ref.subresource ? `${named}/${ref.subresource}` : named;
}

export class KubeApiError extends HooklineError {
  readonly status: number;
  /** The reason the API server gave (`Conflict`, `Invalid`, …). */
  readonly apiReason: string;
  constructor(status: number, apiReason: string, message: string) {
    // 409 conflicts, 429 and 5xx are worth retrying; other 4xx are not.
    super(status === 409 || status === 429 || status >= 500 ? 'KubeApiRetryable' : 'KubeApiRefused', message);
    this.status = status;
    this.apiReason = apiReason;
  }
}

export function isNotFound(error: unknown): boolean {
  return error instanceof KubeApiError && error.status === 404;
}

export function isConflict(error: unknown): boolean {
  return error instanceof KubeApiError && error.status === 409;
}

/** 422: the object does not pass the API server's validation; sending it again cannot help. */
export function isInvalid(error: unknown): boolean {
  return error instanceof KubeApiError && error.status === 422;
}

export interface WatchEvent<T> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

export interface KubeClient {
  get<T>(path: string, query?: Record<string, string>): Promise<T>;
  /** GET that answers undefined on 404. */
  find<T>(path: string, query?: Record<string, string>): Promise<T | undefined>;
  create<T>(path: string, body: unknown): Promise<T>;
  put<T>(path: string, body: unknown): Promise<T>;
  /** Server-side apply with this client's field manager. */
  apply<T>(path: string, body: unknown, options?: { force?: boolean }): Promise<T>;
  jsonPatch<T>(path: string, operations: unknown[]): Promise<T>;
  mergePatch<T>(path: string, patch: unknown): Promise<T>;
  delete(path: string, body?: unknown): Promise<void>;
  /** Streams watch events until the server ends the stream or `signal` aborts. */
  watch<T>(
    path: string,
    query: Record<string, string>,
    onEvent: (event: WatchEvent<T>) => void,
    signal: AbortSignal,
  ): Promise<void>;
  readonly fieldManager: string;
}

interface Options {
  fieldManager: string;
  /** Per-request timeout for non-watch requests. */
  timeoutMs?: number;
}

export function kubeClient(config: KubeAccess, options: Options): KubeClient {
  const cluster = config.getCurrentCluster();
  if (!cluster) throw new HooklineError('NoCluster', 'the kubeconfig names no current cluster');
  const server = cluster.server.replace(/\/$/, '');
  let dispatcher: Dispatcher | undefined;
  const timeoutMs = options.timeoutMs ?? 30_000;

  async function connection(): Promise<{ dispatcher: Dispatcher; headers: Record<string, string> }> {
    const tls: https.RequestOptions = {};
    await config.applyToHTTPSOptions(tls);
    dispatcher ??= new Agent({
      connect: {
        ca: tls.ca,
        cert: tls.cert,
        key: tls.key,
        rejectUnauthorized: tls.rejectUnauthorized ?? true,
      },
      keepAliveTimeout: 30_000,
    });
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(tls.headers ?? {})) {
      if (typeof value === 'string') headers[name.toLowerCase()] = value;
    }
    return { dispatcher, headers };
  }

  async function call<T>(
    method: Dispatcher.HttpMethod,
    path: string,
    init: { body?: unknown; contentType?: string; query?: Record<string, string> } = {},
  ): Promise<T> {
    const { dispatcher: d, headers } = await connection();
    const url = new URL(server + path);
    for (const [key, value] of Object.entries(init.query ?? {})) url.searchParams.set(key, value);
    let response: Dispatcher.ResponseData;
    try {
      response = await request(url, {
        method,
        dispatcher: d,
        headers: {
          ...headers,
          accept: 'application/json',
          ...(init.body !== undefined ? { 'content-type': init.contentType ?? 'application/json' } : {}),
        },
        body: init.body === undefined ? undefined : JSON.stringify(init.body),
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
    } catch (error) {
      throw new HooklineError('KubeApiUnreachable', `${method} ${path}: ${(error as Error).message}`, error);
    }
    const text = await response.body.text();
    if (response.statusCode >= 400) {
      let reason = '';
      let message = text;
      try {
        const status = JSON.parse(text) as { reason?: string; message?: string };
        reason = status.reason ?? '';
        message = status.message ?? text;
      } catch {
        // not a Status object
      }
      throw new KubeApiError(
        response.statusCode,
        reason,
        `${method} ${path}: ${response.statusCode} ${message}`,
      );
    }
    return (text ? JSON.parse(text) : undefined) as T;
  }

  return {
    fieldManager: options.fieldManager,
    get: (path, query) => call('GET', path, { query }),
    async find<T>(path: string, query?: Record<string, string>) {
      try {
        return await call<T>('GET', path, { query });
      } catch (error) {
        if (isNotFound(error)) return undefined;
        throw error;
      }
    },
    create: (path, body) => call('POST', path, { body, query: { fieldManager: options.fieldManager } }),
    put: (path, body) => call('PUT', path, { body, query: { fieldManager: options.fieldManager } }),
    apply: (path, body, applyOptions) =>
      call('PATCH', path, {
        body,
        contentType: 'application/apply-patch+yaml',
        query: { fieldManager: options.fieldManager, force: String(applyOptions?.force ?? true) },
      }),
    jsonPatch: (path, operations) =>
      call('PATCH', path, {
        body: operations,
        contentType: 'application/json-patch+json',
        query: { fieldManager: options.fieldManager },
      }),
    mergePatch: (path, patch) =>
      call('PATCH', path, {
        body: patch,
        contentType: 'application/merge-patch+json',
        query: { fieldManager: options.fieldManager },
      }),
    async delete(path, body) {
      try {
        await call('DELETE', path, { body });
      } catch (error) {
        if (!isNotFound(error)) throw error;
      }
    },
    async watch<T>(
      path: string,
      query: Record<string, string>,
      onEvent: (event: WatchEvent<T>) => void,
      signal: AbortSignal,
    ) {
      const { dispatcher: d, headers } = await connection();
      const url = new URL(server + path);
      for (const [key, value] of Object.entries({ ...query, watch: '1' })) url.searchParams.set(key, value);
      const response = await request(url, {
        method: 'GET',
        dispatcher: d,
        headers: { ...headers, accept: 'application/json' },
        signal,
        headersTimeout: timeoutMs,
        bodyTimeout: 0,
      });
      if (response.statusCode >= 400) {
        const text = await response.body.text();
        throw new KubeApiError(response.statusCode, '', `WATCH ${path}: ${response.statusCode} ${text}`);
      }
      const lines = new JsonLines();
      for await (const chunk of response.body) {
        for (const event of lines.push(chunk as Buffer)) onEvent(event as WatchEvent<T>);
      }
      lines.end();
    },
  };
}
