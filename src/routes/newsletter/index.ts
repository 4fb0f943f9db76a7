import { createRoute, z } from '@hono/zod-openapi';
import { clientIpBucket } from '../../lib/http';
import { createRouter, serviceContext } from '../../router';
import { confirmSubscription, subscribe, unsubscribe } from '../../services/newsletter';
import { ErrorResponse } from '../schemas';

const Email = z.email().max(254);
const SubscribeBody = z.object({ email: Email }).strict().openapi('NewsletterSubscribe');
const SignedLinkBody = z
  .object({
    email: Email,
    token: z.string().max(128).optional().openapi({ description: 'The token from the link in our email (missing or wrong → 403)' }),
  })
  .strict()
  .openapi('NewsletterSignedLink');

const json = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } });
const err = (description: string) => json(ErrorResponse, description);
const bodyOf = <T extends z.ZodType>(schema: T) => ({ body: { required: true, content: { 'application/json': { schema } } } });

export const newsletterRoutes = createRouter()
  .openapi(
    createRoute({
      method: 'post',
      path: '/subscribe',
      tags: ['newsletter'],
      summary: 'Subscribe an address (double opt-in; 1 per hour per client IP)',
      description:
        'Always 202 with the same body whether or not the address is known. A confirmation email with a signed link is sent to a new (or previously unsubscribed) address; ' +
        'a pending address gets at most one per 24 h; a subscribed one gets nothing.',
      request: bodyOf(SubscribeBody),
      responses: {
        202: json(z.object({ data: z.object({ status: z.literal('confirmation_sent_if_needed') }) }), 'Accepted'),
        400: err('Invalid email'),
        429: err('Rate limited (Retry-After)'),
        503: err('Newsletter not configured'),
      },
    }),
    async (c) => {
      await subscribe(serviceContext(c), { email: c.req.valid('json').email, ip: clientIpBucket(c) });
      return c.json({ data: { status: 'confirmation_sent_if_needed' as const } }, 202);
    },
  )
  .openapi(
    createRoute({
      method: 'post',
      path: '/confirm',
      tags: ['newsletter'],
      summary: 'Confirm a subscription with the signed link from the confirmation email',
      description: 'The email links to `${FRONTEND_URL}/newsletter/confirm?email=…&token=…`; that page posts both here. 10 per hour per client IP.',
      request: bodyOf(SignedLinkBody),
      responses: {
        200: json(z.object({ data: z.object({ status: z.literal('subscribed') }) }), 'Subscribed (idempotent)'),
        400: err('Invalid body'),
        403: err('Missing or invalid token'),
        404: err('No pending subscription for this address'),
        429: err('Rate limited (Retry-After)'),
        503: err('Newsletter not configured'),
      },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const { status } = await confirmSubscription(serviceContext(c), { ...body, ip: clientIpBucket(c) });
      return c.json({ data: { status: status as 'subscribed' } }, 200);
    },
  )
  .openapi(
    createRoute({
      method: 'post',
      path: '/unsubscribe',
      tags: ['newsletter'],
      summary: 'Unsubscribe with the signed link from one of our emails',
      description: 'Without the token from the email nobody can unsubscribe an address. Same answer whether or not it was subscribed. 10 per hour per client IP.',
      request: bodyOf(SignedLinkBody),
      responses: {
        200: json(z.object({ data: z.object({ status: z.literal('unsubscribed') }) }), 'Unsubscribed (idempotent)'),
        400: err('Invalid body'),
        403: err('Missing or invalid token'),
        429: err('Rate limited (Retry-After)'),
        503: err('Newsletter not configured'),
      },
    }),
    async (c) => {
      const body = c.req.valid('json');
      return c.json({ data: await unsubscribe(serviceContext(c), { ...body, ip: clientIpBucket(c) }) }, 200);
    },
  );
