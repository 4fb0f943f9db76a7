import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import type { App } from '../../src/router';
import type { Env } from '../../src/config';
import worker from '../../src/index';

export const BASE = 'http://api.fairarena.test';

export interface CallOptions extends Omit<RequestInit, 'body'> {
  /** JSON body (serialised, content-type set) — or pass `raw` for exact bytes. */
  json?: unknown;
  raw?: BodyInit;
  /** Defaults to a per-call random address so the global IP limiter never couples tests. */
  ip?: string;
  token?: string;
  app?: App;
}

export interface CallResult<T = any> {
  res: Response;
  status: number;
  body: T;
  headers: Headers;
}

/** Send a request through the real worker (or a test app) with the given env, waiting for waitUntil work. */
export async function call<T = any>(env: Env, path: string, options: CallOptions = {}): Promise<CallResult<T>> {
  const { json, raw, ip, token, app, headers: given, ...init } = options;
  const headers = new Headers(given);
  headers.set('CF-Connecting-IP', ip ?? `198.51.100.${Math.floor(Math.random() * 250) + 1}`);
  if (token) headers.set('Authorization', `Bearer ${token}`);
  let body: BodyInit | undefined = raw;
  if (json !== undefined) {
    body = JSON.stringify(json);
    if (!headers.has('Content-Type')) headers.set('Content-Type', 'application/json');
  }
  const request = new Request(`${BASE}${path}`, { ...init, headers, body });
  const ctx = createExecutionContext();
  const res = app
    ? await app.fetch(request, env, ctx)
    : await worker.fetch(request as Request<unknown, IncomingRequestCfProperties>, env, ctx);
  await waitOnExecutionContext(ctx);
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    // not JSON (e.g. the docs page): keep the text
  }
  return { res, status: res.status, body: parsed as T, headers: res.headers };
}

/**
 * A `fetch` that hands each request to the real worker with the given env (waiting for its waitUntil work), for
 * clients that take a fetch function, such as the generated API client.
 */
export function workerFetch(env: Env, options: { ip?: string } = {}): (request: Request) => Promise<Response> {
  return async (request) => {
    const headers = new Headers(request.headers);
    headers.set('CF-Connecting-IP', options.ip ?? `198.51.100.${Math.floor(Math.random() * 250) + 1}`);
    const forwarded = new Request(request, { headers });
    const ctx = createExecutionContext();
    const res = await worker.fetch(forwarded as Request<unknown, IncomingRequestCfProperties>, env, ctx);
    await waitOnExecutionContext(ctx);
    return res;
  };
}
