// Baseline for `npm run bench`: the smallest Hono worker, run exactly like the API, so the API's numbers can be
// read as a ratio of what this machine can do at all. The /floor routes measure the floor of the API's I/O rows:
// the same bare route plus what such a request costs on this platform whatever the code — the global rate-limit
// binding the API calls on every /api request, and the row's own round trips (raw fetches, or for the write the
// driver's WebSocket session with the same statements), against the same local stand-ins. An API row can approach
// its floor's ratio but not beat it.
import { Pool, neonConfig } from '@neondatabase/serverless';
import { Hono } from 'hono';

interface Env {
  GLOBAL_RATE_LIMITER: { limit(o: { key: string }): Promise<{ success: boolean }> };
  UPSTASH_REDIS_REST_URL?: string;
  UPSTASH_REDIS_REST_TOKEN?: string;
  NEON_SQL_URL?: string;
  NEON_LOCAL_PROXY?: string;
  DATABASE_URL?: string;
}

// The local Neon endpoints: plain WebSocket, no TLS (production would use the driver's defaults).
neonConfig.useSecureWebSocket = false;
neonConfig.pipelineTLS = false;
neonConfig.forceDisablePgSSL = true;

const app = new Hono<{ Bindings: Env }>();
app.get('/', (c) => c.json({ data: { ok: true } }));

app.use('/floor/*', async (c, next) => {
  const { success } = await c.env.GLOBAL_RATE_LIMITER.limit({ key: c.req.header('cf-connecting-ip') ?? 'no-ip' });
  if (!success) return c.json({ error: 'RATE_LIMITED' }, 429);
  await next();
});

const sqlOverHttp = (env: Env, query: string, params: unknown[]) =>
  fetch(env.NEON_SQL_URL!, {
    method: 'POST',
    headers: { 'neon-connection-string': env.DATABASE_URL!, 'neon-raw-text-output': 'true', 'neon-array-mode': 'true', 'content-type': 'application/json' },
    body: JSON.stringify({ query, params }),
  }).then((r) => r.json());

const upstash = (env: Env, commands: unknown[][]) =>
  fetch(`${env.UPSTASH_REDIS_REST_URL}/pipeline`, {
    method: 'POST',
    headers: { authorization: `Bearer ${env.UPSTASH_REDIS_REST_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(commands),
  }).then((r) => r.json());

/** One Upstash REST call, shaped like the balance cache read (an MGET of a value and its version). */
app.get('/floor/redis', async (c) => {
  const user = c.req.header('x-bench-user') ?? 'user';
  return c.json({ data: await upstash(c.env, [['mget', `floor:${user}`, `floor:${user}:ver`]]) });
});

/** One statement over the Neon SQL-over-HTTP endpoint, shaped like the plans read. */
app.get('/floor/sql', async (c) => {
  const plans = 'select "plan_id", "name", "amount", "credits" from "plans" where "plans"."is_active" = $1 order by "plans"."amount" asc';
  return c.json({ data: await sqlOverHttp(c.env, plans, ['true']) });
});

/**
 * One WebSocket transaction with the settings write's statements (create-or-lock, update, activity row), then the
 * cache invalidation: what PUT /settings costs whatever the code.
 */
app.put('/floor/write', async (c) => {
  const user = c.req.header('x-bench-user') ?? 'user';
  neonConfig.wsProxy = (host, port) => `${c.env.NEON_LOCAL_PROXY}/v2?address=${host}:${port}`;
  const pool = new Pool({ connectionString: c.env.DATABASE_URL, max: 1 });
  const client = await pool.connect();
  try {
    await client.query('begin');
    const { rows } = await client.query('insert into settings (user_id) values ($1) on conflict (user_id) do update set user_id = excluded.user_id returning settings', [user]);
    await client.query('update settings set settings = $2, updated_at = now() where user_id = $1', [user, JSON.stringify(rows[0]?.settings ?? {})]);
    await client.query("insert into activity_logs (user_id, action, metadata) values ($1, 'settings.updated', $2)", [user, '{}']);
    await client.query('commit');
  } finally {
    client.release();
    c.executionCtx.waitUntil(pool.end());
  }
  await upstash(c.env, [['incr', `floor:${user}:settings:ver`], ['expire', `floor:${user}:settings:ver`, 900], ['del', `floor:${user}:settings`]]);
  return c.json({ data: { ok: true } });
});

export default app;
