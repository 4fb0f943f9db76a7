import type { Config, Env } from '../config';
import type { Db } from '../db/client';
import type { PendingEvents } from '../events/outbox';
import { AppError } from '../lib/errors';

/**
 * What every service function receives first: `(ctx, input)`. Built once per request by the door
 * (`serviceContext(c)` in src/router.ts for HTTP); services never see the transport.
 */
export interface ServiceContext {
  db: Db;
  config: Config;
  env: Env;
  requestId: string;
  /** Clerk user id of the caller, when authenticated. */
  userId?: string;
  /** Events emitted by this operation; relayed to the queue once the request ends. */
  events: PendingEvents;
  /** Set by the operator door (/admin) once the caller presented the operator token. */
  operator?: boolean;
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
