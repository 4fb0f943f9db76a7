// Baseline for `npm run bench`: the smallest Hono worker, run under `wrangler dev` exactly like the API,
// so the API's numbers can be read as a ratio of what this machine + wrangler dev can do at all.
import { Hono } from 'hono';

const app = new Hono();
app.get('/', (c) => c.json({ data: { ok: true } }));

export default app;
