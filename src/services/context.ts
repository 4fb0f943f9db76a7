import { loadConfig, type Config, type Env } from '../config';
import { Db, type Queryable, type Transaction } from '../db/client';
import { relayOrDefer, type PendingEvents } from '../events/outbox';
import { AppError } from '../lib/errors';
import { describeError, log } from '../lib/log';

/** Who an operation runs for. Services authorize on it; logs and audit rows name it. */
export type Actor =
  | { kind: 'anonymous' }
  | { kind: 'user'; userId: string }
  | { kind: 'operator' }
  | { kind: 'webhook'; source: 'clerk' | 'razorpay' | 'github' | 'qstash' }
  | { kind: 'queue'; event: string; eventId: string; handler: string }
  | { kind: 'system'; job: string };

/**
 * The database as a service sees it: `read` may go to a replica, `write` to the primary. Inside
 * `withTransaction` both are the open transaction (and `tx` is set), so a service called from another
 * service's transaction joins it instead of opening its own.
 */
export interface DbHandle {
  readonly read: Queryable;
  readonly write: Queryable;
  readonly tx?: Transaction;
  /** A new transaction on the primary (`withTransaction` uses it when there is no enclosing one). */
  transaction<T>(work: (tx: Transaction) => Promise<T>): Promise<T>;
}

/**
 * What every service function receives first: `(ctx, input)`. Transport-free: the HTTP middleware, the queue
 * consumer, the cron runner and the AI stream all build it with `openServiceContext`, so services never see
 * Hono, a queue message or a controller.
 */
export interface ServiceContext {
  db: DbHandle;
  config: Config;
  env: Env;
  /** Correlates the log lines of one request, delivery or job run. */
  requestId: string;
  actor: Actor;
  /** Clerk user id of the caller, when a user is signed in (`actor.kind === 'user'`). */
  userId?: string;
  /** Set by the operator door (/admin) once the caller presented the operator token. */
  operator?: boolean;
  /** Outbox ids emitted by this operation; relayed to the queue when the door finishes. */
  events: PendingEvents;
  /** Work to run once the enclosing transaction has committed (cache invalidation); right away outside one. */
  afterCommit(work: () => Promise<unknown>): void;
}

/**
 * Run `fn` in one database transaction. Inside an enclosing `withTransaction` it joins that transaction
 * (one commit for the whole operation); otherwise it opens one on the primary. `afterCommit` work queued
 * inside runs once the outermost transaction has committed, never after a rollback.
 */
export async function withTransaction<T>(ctx: ServiceContext, fn: (tx: Transaction, ctx: ServiceContext) => Promise<T>): Promise<T> {
  if (ctx.db.tx) return fn(ctx.db.tx, ctx);
  const after: (() => Promise<unknown>)[] = [];
  const result = await ctx.db.transaction((tx) =>
    fn(tx, { ...ctx, db: transactionHandle(tx), afterCommit: (work) => void after.push(work) }),
  );
  await runAfterCommit(after);
  return result;
}

/**
 * Like `withTransaction`, but inside an enclosing transaction it opens a savepoint: when `fn` throws, only
 * its own writes roll back and the enclosing transaction goes on (a queue handler that records a failure
 * after a failed attempt). `afterCommit` work queued inside is kept only if the savepoint was released.
 */
export async function withSavepoint<T>(ctx: ServiceContext, fn: (tx: Transaction, ctx: ServiceContext) => Promise<T>): Promise<T> {
  if (!ctx.db.tx) return withTransaction(ctx, fn);
  const after: (() => Promise<unknown>)[] = [];
  const result = await ctx.db.tx.transaction((sp) => fn(sp, { ...ctx, db: transactionHandle(sp), afterCommit: (work) => void after.push(work) }));
  for (const work of after) ctx.afterCommit(work);
  return result;
}

/**
 * `ctx.db` inside an open transaction: reads and writes both go to it, and a nested transaction is a savepoint.
 */
function transactionHandle(tx: Transaction): DbHandle {
  return { read: tx, write: tx, tx, transaction: (work) => tx.transaction(work) };
}

/** After-commit work is best effort (a cache entry left behind expires): it never fails the operation. */
async function runAfterCommit(work: (() => Promise<unknown>)[]): Promise<void> {
  for (const result of await Promise.allSettled(work.map((w) => w()))) {
    if (result.status === 'rejected') log('warn', 'after_commit.failed', { error: describeError(result.reason) });
  }
}

/** A context for the given actor; `userId`/`operator` follow from it. */
export function contextFor(base: ServiceContext, actor: Actor): ServiceContext {
  return { ...base, actor, userId: actor.kind === 'user' ? actor.userId : undefined, operator: actor.kind === 'operator' || undefined };
}

export interface OpenedContext {
  ctx: ServiceContext;
  /** The door is done: relay this context's committed events to the queue, then close the database. */
  finish(): Promise<void>;
}

/**
 * The one way a door gets a context: its own lazily-connected database, an empty outbox list, and a
 * `finish()` that relays what was emitted and closes. An event that cannot be relayed stays in the outbox
 * table for the sweeper: finishing never fails.
 */
export function openServiceContext(
  env: Env,
  opts: { actor: Actor; requestId?: string; config?: Config; statementTimeoutMs?: number },
): OpenedContext {
  const config = opts.config ?? loadConfig(env);
  const db = new Db(config, { statementTimeoutMs: opts.statementTimeoutMs });
  const events: PendingEvents = [];
  const base: ServiceContext = {
    db,
    config,
    env,
    requestId: opts.requestId ?? crypto.randomUUID(),
    actor: opts.actor,
    events,
    afterCommit: (work) => void runAfterCommit([work]),
  };
  return {
    ctx: contextFor(base, opts.actor),
    async finish() {
      if (!db.opened) return;
      try {
        await relayOrDefer(db, env, events);
      } finally {
        await db.close();
      }
    },
  };
}

/** The caller's user id, or 401: for services that only make sense for a signed-in user. */
export function requireCaller(ctx: ServiceContext): string {
  if (!ctx.userId) throw new AppError('AUTH_REQUIRED', 'Sign in to continue');
  return ctx.userId;
}

/** 403 unless the operator door vouched for the caller: for services that only operators may call. */
export function requireOperator(ctx: ServiceContext): void {
  if (!ctx.operator) throw new AppError('FORBIDDEN', 'Operators only');
}
