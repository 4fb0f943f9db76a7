import { z } from '@hono/zod-openapi';
import { ERROR_CODES } from '../lib/errors';

/** The error envelope, for OpenAPI responses. */
export const ErrorResponse = z
  .object({
    error: z.object({
      code: z.enum(ERROR_CODES),
      message: z.string(),
      requestId: z.string(),
      details: z.unknown().optional(),
    }),
  })
  .openapi('Error');
