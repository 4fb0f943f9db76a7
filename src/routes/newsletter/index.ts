import { clientIpBucket } from '../../lib/http';
import { createRouter, serviceContext } from '../../router';
import { confirmSubscription, subscribe, unsubscribe } from '../../services/newsletter';
import { body, data, errors, json, route, z } from '../kit';

const Email = z.email().max(254);
const SubscribeBody = z.object({ email: Email }).strict().openapi('NewsletterSubscribe');
const SignedLinkBody = z
  .object({
    email: Email,
    token: z.string().max(128).optional().openapi({ description: 'The token from the link in our email (missing or wrong → 403)' }),
  })
  .strict()
  .openapi('NewsletterSignedLink');

const signedLink = body(SignedLinkBody, { email: 'ada@example.com', token: 'nl1.Yt2xQ8vR4mK7pL0sN3wZ' });
const tags = ['newsletter'];

export const newsletterRoutes = createRouter()
  .openapi(
    route({
      method: 'post',
      path: '/subscribe',
      operationId: 'newsletter.subscribe',
      tags,
      auth: 'public',
      summary: 'Subscribe an address (double opt-in; 1 per hour per client IP)',
      description:
        'Always 202 with the same body whether or not the address is known. A confirmation email with a signed link is sent to a new (or previously unsubscribed) address; ' +
        'a pending address gets at most one per 24 h; a subscribed one gets nothing.',
      request: body(SubscribeBody, { email: 'ada@example.com' }),
      responses: {
        202: json(data(z.object({ status: z.literal('confirmation_sent_if_needed') })), 'Accepted'),
        ...errors({ 400: 'Invalid email', 429: 'Rate limited (Retry-After)', 503: 'Newsletter not configured, or its mail cap cannot be counted right now (Retry-After)' }),
      },
    }),
    async (c) => {
      await subscribe(serviceContext(c), { email: c.req.valid('json').email, ip: clientIpBucket(c) });
      return c.json({ data: { status: 'confirmation_sent_if_needed' as const } }, 202);
    },
  )
  .openapi(
    route({
      method: 'post',
      path: '/confirm',
      operationId: 'newsletter.confirm',
      tags,
      auth: 'public',
      summary: 'Confirm a subscription with the signed link from the confirmation email',
      description: 'The email links to `${FRONTEND_URL}/newsletter/confirm?email=…&token=…`; that page posts both here. 10 per hour per client IP.',
      request: signedLink,
      responses: {
        200: json(data(z.object({ status: z.literal('subscribed') })), 'Subscribed (idempotent)'),
        ...errors({
          400: 'Invalid body',
          403: 'Missing or invalid token',
          404: 'No pending subscription for this address',
          429: 'Rate limited (Retry-After)',
          503: 'Newsletter not configured',
        }),
      },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const { status } = await confirmSubscription(serviceContext(c), { ...body, ip: clientIpBucket(c) });
      return c.json({ data: { status: status as 'subscribed' } }, 200);
    },
  )
  .openapi(
    route({
      method: 'post',
      path: '/unsubscribe',
      operationId: 'newsletter.unsubscribe',
      tags,
      auth: 'public',
      summary: 'Unsubscribe with the signed link from one of our emails',
      description: 'Without the token from the email nobody can unsubscribe an address. Same answer whether or not it was subscribed. 10 per hour per client IP.',
      request: signedLink,
      responses: {
        200: json(data(z.object({ status: z.literal('unsubscribed') })), 'Unsubscribed (idempotent)'),
        ...errors({ 400: 'Invalid body', 403: 'Missing or invalid token', 429: 'Rate limited (Retry-After)', 503: 'Newsletter not configured' }),
      },
    }),
    async (c) => {
      const body = c.req.valid('json');
      return c.json({ data: await unsubscribe(serviceContext(c), { ...body, ip: clientIpBucket(c) }) }, 200);
    },
  );
