import { RazorpayError } from '../../integrations/razorpay';
import { AppError } from '../../lib/errors';
import { describeError, log } from '../../lib/log';

/** A provider failure as the client should see it: try again later (nothing was charged). */
export function providerUnavailable(err: unknown, what: string): AppError {
  log('warn', 'razorpay.unavailable', { what, error: describeError(err), status: err instanceof RazorpayError ? err.status : null });
  return new AppError('SERVICE_UNAVAILABLE', 'The payment provider is unavailable, please try again shortly', {
    details: { reason: 'PROVIDER_UNAVAILABLE' },
    headers: { 'Retry-After': '5' },
    cause: err,
  });
}
