import { vi } from 'vitest';

export type FakeHandler = (request: Request) => Response | Promise<Response>;

export interface FakeFetch {
  /** Every faked (non-loopback) request, in order, cloned so bodies can be read. */
  calls: Request[];
  /** Add or replace a route: "METHOD https://host/path" (a trailing * matches any suffix). */
  on(route: string, handler: FakeHandler): void;
  restore(): void;
}

/**
 * Fakes third-party HTTP APIs (Razorpay, Resend, Gemini, SMS, Clerk) at the fetch boundary.
 * Loopback requests (our Redis bridge, QStash emulator) go to the real network; an external request
 * with no matching route fails the call loudly with 599 so a missing fake is never silent.
 */
export function fakeFetch(routes: Record<string, FakeHandler> = {}): FakeFetch {
  const table = new Map(Object.entries(routes));
  const realFetch = globalThis.fetch;
  const calls: Request[] = [];
  const spy = vi.spyOn(globalThis, 'fetch').mockImplementation(async (input, init) => {
    const request = new Request(input as RequestInfo, init);
    const url = new URL(request.url);
    if (url.hostname === '127.0.0.1' || url.hostname === 'localhost') return realFetch(request);
    calls.push(request.clone());
    const target = `${request.method} ${url.origin}${url.pathname}`;
    for (const [route, handler] of table) {
      const matches = route.endsWith('*') ? target.startsWith(route.slice(0, -1)) : target === route;
      if (matches) return handler(request);
    }
    return new Response(JSON.stringify({ error: `no fake for ${target}` }), { status: 599 });
  });
  return {
    calls,
    on: (route, handler) => void table.set(route, handler),
    restore: () => spy.mockRestore(),
  };
}

/** A provider that takes the request and never answers: settles only when the caller aborts. */
export function hang(request: Request): Promise<Response> {
  return new Promise((_, reject) => request.signal.addEventListener('abort', () => reject(request.signal.reason)));
}

/** An answer whose status and headers arrive and whose body starts but never ends. */
export function stalledBody(status = 200): Response {
  const body = new ReadableStream<Uint8Array>({ start: (c) => c.enqueue(new TextEncoder().encode('{"id":')) });
  return new Response(body, { status, headers: { 'Content-Type': 'application/json' } });
}
