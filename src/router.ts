import { OpenAPIHono, type Hook } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { Config, Env } from './config';
import { AppError } from './lib/errors';
import { contextFor, type ServiceContext } from './services/context';
import type { Span } from './lib/trace';

export interface AppEnv {
  Bindings: Env;
  Variables: {
    requestId: string;
    config: Config;
    /** The request's service context before authentication; `serviceContext(c)` adds the caller. */
    services: ServiceContext;
    /** Clerk user id once the request is authenticated. */
    userId?: string;
    /** The request's server span (W3C trace context). */
    span: Span;
    /** Name of the unhandled error that failed the request (counted in the RED metrics). */
    unhandledError?: string;
  };
}

export type App = OpenAPIHono<AppEnv>;

/** zod failures from any route's request schema become 400 VALIDATION_ERROR with the issues listed. */
const validationHook: Hook<unknown, AppEnv, string, unknown> = (result) => {
  if (result.success) return;
  throw new AppError('VALIDATION_ERROR', `Invalid request ${result.target}`, {
    details: {
      target: result.target,
      issues: result.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
    },
  });
};

/** Every router is built here so they all share the validation hook. */
export function createRouter(): App {
  return new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
}

/** The HTTP door's conversion of Hono's request context into the transport-free ServiceContext. */
export function serviceContext(c: Context<AppEnv>): ServiceContext {
  const userId = c.get('userId');
  return contextFor(c.get('services'), userId ? { kind: 'user', userId } : { kind: 'anonymous' });
}
