import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { requestId } from 'hono/request-id';
import { ConfigError } from './config';
import { dataExceptionCode, databaseUnavailable, isDatabaseUnavailable } from './db/errors';
import { AppError, errorBody, type ErrorCode, toError } from './lib/errors';
import { describeError, log, stackFrames } from './lib/log';
import { identify } from './middleware/auth';
import { requestContext } from './middleware/context';
import { bodySizeLimit, globalRateLimit, maintenanceGate } from './middleware/limits';
import { requestLogger } from './middleware/logger';
import { corsPolicy, securityHeaders } from './middleware/security';
import { registerRoutes } from './routes';
import { createRouter, type App, type AppEnv } from './router';

const HTTP_EXCEPTION_CODES: Record<number, ErrorCode> = {
  400: 'VALIDATION_ERROR',
  401: 'AUTH_REQUIRED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  413: 'PAYLOAD_TOO_LARGE',
  429: 'RATE_LIMITED',
  503: 'SERVICE_UNAVAILABLE',
};

function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  // The one place that tells "the database cannot serve right now" (503, retry) from a bug (500).
  if (isDatabaseUnavailable(err)) return databaseUnavailable();
  if (dataExceptionCode(err)) return new AppError('VALIDATION_ERROR', 'A value in the request is not valid');
  if (err instanceof HTTPException) {
    // e.g. hono's validator: "Malformed JSON in request body" (400), a body that is not JSON (415).
    // Any other client error is still the client's: a 400 in the envelope, never a 500.
    const code = HTTP_EXCEPTION_CODES[err.status] ?? (err.status < 500 ? 'VALIDATION_ERROR' : undefined);
    if (code) return new AppError(code, err.status === 415 ? 'Send the body as application/json' : err.message || 'Request refused');
  }
  return new AppError('INTERNAL_ERROR', 'Internal server error');
}

function handleError(err: unknown, c: Context<AppEnv>) {
  const requestId = c.get('requestId') ?? crypto.randomUUID();
  const appError = toAppError(err);
  if (err instanceof ConfigError) {
    log('error', 'config.invalid', { requestId, keys: err.keys, issues: err.issues });
  } else if (appError.code === 'SERVICE_UNAVAILABLE' && !(err instanceof AppError)) {
    log('error', 'request.unavailable', { requestId, route: c.req.routePath, dependency: 'database', error: describeError(err) });
  } else if (appError.code === 'VALIDATION_ERROR' && !(err instanceof AppError) && !(err instanceof HTTPException)) {
    // A value validation let through and PostgreSQL refused: the client's input, worth a schema rule.
    log('warn', 'request.invalid_data', { requestId, route: c.req.routePath, sqlState: dataExceptionCode(err) });
  } else if (appError.status >= 500 && appError.code !== 'MAINTENANCE') {
    // The error tracking hook: a bug is logged once, with stack frames only (no message lines that may
    // hold parameters), its route pattern and (through the span) its trace id, and counted in the metrics.
    const error = describeError(err);
    c.set('unhandledError', error.name);
    log('error', 'request.error', { requestId, route: c.req.routePath, error, stack: stackFrames(err) });
  }
  return c.json(errorBody(appError, requestId), appError.status, appError.options.headers);
}

/**
 * The app factory. Middleware order: request id → log → (anything thrown made an Error) → security headers → config + db →
 * CORS → body size → maintenance (/api only) → global IP rate limit → identity (/api only) → routes.
 * `register` exists so tests can mount extra routes on an otherwise identical app.
 */
export function createApp(register: (app: App) => void = registerRoutes): App {
  const app = createRouter();
  app.use('*', requestId({ headerName: 'X-Request-Id', limitLength: 128 }));
  app.use('*', requestLogger);
  // The framework hands only Errors to the error handler; anything else thrown below (a WebSocket's ErrorEvent,
  // a thrown string) would fail the whole invocation instead of answering in the envelope.
  app.use('*', async (_c, next) => {
    try {
      await next();
    } catch (err) {
      throw toError(err);
    }
  });
  app.use('*', securityHeaders);
  app.use('*', requestContext);
  app.use('*', corsPolicy);
  app.use('*', bodySizeLimit);
  app.use('/api/*', maintenanceGate);
  app.use('*', globalRateLimit);
  app.use('/api/*', identify);

  register(app);

  app.notFound((c) => handleError(new AppError('NOT_FOUND', `No route for ${c.req.method} ${c.req.path}`), c));
  app.onError(handleError);
  return app;
}
