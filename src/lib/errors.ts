import type { ContentfulStatusCode } from 'hono/utils/http-status';

/** Every error the API can answer with, and its HTTP status (the contract clients switch on; docs/ARCHITECTURE.md). */
export const ERROR_STATUS = {
  AUTH_REQUIRED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  VALIDATION_ERROR: 400,
  RATE_LIMITED: 429,
  PAYLOAD_TOO_LARGE: 413,
  PAYMENT_FAILED: 402,
  INSUFFICIENT_CREDITS: 402,
  DUPLICATE_REQUEST: 409,
  CONFLICT: 409,
  GONE: 410,
  /** A WebSocket endpoint called without `Upgrade: websocket`. */
  UPGRADE_REQUIRED: 426,
  MAINTENANCE: 503,
  SERVICE_UNAVAILABLE: 503,
  INTERNAL_ERROR: 500,
} as const satisfies Record<string, ContentfulStatusCode>;

export type ErrorCode = keyof typeof ERROR_STATUS;
export const ERROR_CODES = Object.keys(ERROR_STATUS) as [ErrorCode, ...ErrorCode[]];

/** The one error class. Services throw it; the app's error handler turns it into the envelope. */
export class AppError extends Error {
  readonly status: ContentfulStatusCode;

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly options: { details?: unknown; headers?: Record<string, string>; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = 'AppError';
    this.status = ERROR_STATUS[code];
  }
}

export interface ErrorBody {
  error: { code: ErrorCode; message: string; requestId: string; details?: unknown };
}

export function errorBody(err: AppError, requestId: string): ErrorBody {
  return {
    error: {
      code: err.code,
      message: err.message,
      requestId,
      ...(err.options.details === undefined ? {} : { details: err.options.details }),
    },
  };
}

/**
 * `err` as an Error. A WebSocket reports failure with an ErrorEvent, and the database driver passes that on as the
 * rejection itself; anything that is not an Error would bypass the app's error handler (and its 503 for an
 * unreachable database) and fail the whole invocation.
 */
export function toError(err: unknown): Error {
  if (err instanceof Error) return err;
  const event = err as { error?: unknown; message?: unknown } | null;
  if (event?.error instanceof Error) return event.error;
  const message = typeof event?.message === 'string' && event.message ? event.message : String(err);
  return new Error(message, { cause: err });
}

/** 429 RATE_LIMITED with `Retry-After` (whole seconds, at least 1) and `details.retryAfter`. */
export function tooMany(message: string, retryAfterMs: number, details: Record<string, unknown> = {}): AppError {
  const retryAfter = Math.max(1, Math.ceil(retryAfterMs / 1000));
  return new AppError('RATE_LIMITED', message, { details: { ...details, retryAfter }, headers: { 'Retry-After': String(retryAfter) } });
}
