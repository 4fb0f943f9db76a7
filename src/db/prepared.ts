/**
 * Drizzle prepared queries, kept per statement handle and query shape for the isolate's lifetime. Building a query
 * walks its whole expression tree to render the SQL (on the notifications page, a fifth of the request's CPU); a
 * prepared query only binds the request's values to its placeholders. For the hot reads only: a handle here is an
 * isolate-level one (`Db.read` / `Db.write`). On the routed read handle the replica is chosen when the query is
 * built, so an isolate keeps one replica per shape and the load spreads over isolates.
 */
const byHandle = new WeakMap<object, Map<string, unknown>>();

export function prepared<T>(handle: object, shape: string, build: () => T): T {
  let queries = byHandle.get(handle);
  if (!queries) byHandle.set(handle, (queries = new Map()));
  let query = queries.get(shape) as T | undefined;
  if (query === undefined) queries.set(shape, (query = build()));
  return query;
}
