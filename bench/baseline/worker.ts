// Baseline for `npm run bench`: the smallest Hono worker, run exactly like the API, so the API's numbers can be
// read as a ratio of what this machine can do at all. Two more routes measure the floor of the API's I/O rows:
// the same bare route plus what every such request costs on this platform whatever the code — the global
// rate-limit binding the API calls on every /api request, and the one subrequest of the row (no driver, no
// middleware), against the same local stand-ins. An API row can approach its floor's ratio but not beat it.
import { Hono } from 'hono';

interface Env {
  GLOBAL_RATE_LIMITER: { limit(o: { key: string }): Promise<{ success: boolean }> };
  UPSTASH_REDIS_REST_URL?: string;
  UPSTASH_REDIS_REST_TOKEN?: string;
  NEON_SQL_URL?: string;
  DATABASE_URL?: string;
}

const app = new Hono<{ Bindings: Env }>();
app.get('/', (c) => c.json({ data: { ok: true } }));

app.use('/floor/*', async (c, next) => {
  const { success } = await c.env.GLOBAL_RATE_LIMITER.limit({ key: c.req.header('cf-connecting-ip') ?? 'no-ip' });
  if (!success) return c.json({ error: 'RATE_LIMITED' }, 429);
  await next();
});

/** One Upstash REST call, shaped like the balance cache read (an MGET of a value and its version). */
app.get('/floor/redis', async (c) => {
  const user = c.req.header('x-bench-user') ?? 'user';
  const res = await fetch(`${c.env.UPSTASH_REDIS_REST_URL}/pipeline`, {
    method: 'POST',
    headers: { authorization: `Bearer ${c.env.UPSTASH_REDIS_REST_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify([['mget', `floor:${user}`, `floor:${user}:ver`]]),
  });
  return c.json({ data: await res.json() });
});

/** One statement over the Neon SQL-over-HTTP endpoint, shaped like the plans read. */
app.get('/floor/sql', async (c) => {
  const res = await fetch(c.env.NEON_SQL_URL!, {
    method: 'POST',
    headers: { 'neon-connection-string': c.env.DATABASE_URL!, 'neon-raw-text-output': 'true', 'neon-array-mode': 'true', 'content-type': 'application/json' },
    body: JSON.stringify({ query: 'select "plan_id", "name", "amount", "credits" from "plans" where "plans"."is_active" = $1 order by "plans"."amount" asc', params: ['true'] }),
  });
  return c.json({ data: await res.json() });
});

export default app;
