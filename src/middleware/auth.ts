import { clerkMiddleware, getAuth } from '@clerk/hono';
import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../router';
import { AppError } from '../lib/errors';
import { describeError, log } from '../lib/log';
import { serviceContext } from '../services/context';
import { ensureActiveUser } from '../services/users';

/**
 * Resolves the caller from a Clerk session token (Authorization: Bearer, or the __session cookie),
 * verified offline with CLERK_JWT_KEY and the authorized parties — no network call per request.
 * It never rejects: public routes stay public. A missing, malformed, expired, wrong-key or
 * wrong-party token simply leaves the request anonymous; `requireUser` turns that into 401.
 */
export const identify: MiddlewareHandler<AppEnv> = async (c, next) => {
  const config = c.get('config');
  const hasToken = Boolean(c.req.header('Authorization') || /(?:^|;\s*)__session=/.test(c.req.header('Cookie') ?? ''));
  if (hasToken && config.CLERK_JWT_KEY && config.CLERK_SECRET_KEY && config.CLERK_PUBLISHABLE_KEY) {
    try {
      const options = {
        secretKey: config.CLERK_SECRET_KEY,
        publishableKey: config.CLERK_PUBLISHABLE_KEY,
        jwtKey: config.CLERK_JWT_KEY,
        apiUrl: config.CLERK_API_BASE_URL,
        authorizedParties: config.CLERK_AUTHORIZED_PARTIES.length ? config.CLERK_AUTHORIZED_PARTIES : undefined,
        // Passed through to createClerkClient (not in the middleware's option type): no SDK telemetry calls.
        telemetry: { disabled: true },
      };
      const verify = clerkMiddleware(options as Parameters<typeof clerkMiddleware>[0]);
      // The middleware's `next` is a no-op: we only want its verdict, then continue our own chain.
      const redirect = await verify(c, async () => {});
      const auth = redirect ? null : getAuth(c);
      if (auth?.isAuthenticated && auth.userId) c.set('userId', auth.userId);
    } catch (err) {
      log('warn', 'auth.token_rejected', { requestId: c.get('requestId'), error: describeError(err) });
    }
  }
  await next();
};

/** 401 AUTH_REQUIRED without a valid session; provisions unknown users just in time. */
export const requireUser: MiddlewareHandler<AppEnv> = async (c, next) => {
  const userId = c.get('userId');
  if (!userId) throw new AppError('AUTH_REQUIRED', 'Sign in to continue');
  await ensureActiveUser(serviceContext(c), userId);
  await next();
};
