import type { Context } from 'hono';

/** The client's IP as Cloudflare saw it. Never X-Forwarded-For: clients can forge it. */
export function clientIp(c: Context): string | null {
  return c.req.header('CF-Connecting-IP')?.trim() || null;
}

/** Race a promise against a deadline; rejects with a TimeoutError after `ms`. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | null = null;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error(`${what} timed out after ${ms} ms`), { name: 'TimeoutError' })), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    if (timer !== null) clearTimeout(timer);
  }
}
