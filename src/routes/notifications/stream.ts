import { PING, PONG, STREAM_CLOSE, STREAM_POLICY } from '../../durable/notification-hub';
import { createRouter, serviceContext } from '../../router';
import { issueStreamTicket, openNotificationStream, RESUME_LIMIT } from '../../services/notifications/stream';
import { data, errors, json, route, z } from '../kit';

const StreamTicket = z
  .object({
    ticket: z.string().openapi({ description: 'Single use; pass it as `ticket` to GET /stream' }),
    expiresAt: z.iso.datetime(),
  })
  .openapi('NotificationStreamTicket');

const StreamQuery = z.object({
  // Optional in the schema so that a missing ticket is 401 like a wrong one, not 400.
  ticket: z.string().max(256).optional().openapi({ description: 'From POST /stream-ticket' }),
  since: z.uuid().optional().openapi({ description: 'Id of the newest notification the client has: everything newer is sent first' }),
});

const STREAM_DESCRIPTION = `
WebSocket (\`Upgrade: websocket\`) → **101 Switching Protocols**. Authenticate with a ticket from
\`POST /api/v1/notifications/stream-ticket\` (browsers cannot send \`Authorization\` on a WebSocket):
single use, valid ${STREAM_POLICY.ticketTtlMs / 1000} s. Browser origins outside \`CORS_ORIGINS\` are refused (403).

The server sends JSON text frames:

| message | when |
|---|---|
| \`{"type":"notification","notification":{"id","type","title","message","createdAt","read"}}\` | each new notification of this user; on connect with \`since\`, every newer one first, oldest first |
| \`{"type":"unreadCount","count":N}\` | on connect (after the resumed notifications) and after every change |
| \`{"type":"resync","reason":"unknown_since"\\|"too_many"}\` | \`since\` is not one of your notifications, or more than ${RESUME_LIMIT} were missed: reload the list over REST |
| \`{"type":"heartbeat","at":"<ISO time>"}\` | every ${STREAM_POLICY.heartbeatMs / 1000} s |
| \`${PONG}\` | answer to a client \`${PING}\` (or \`ping\`) |

At most \`NOTIFICATION_SOCKETS_PER_USER\` (default 5) sockets per user: opening one more closes the
oldest with code ${STREAM_CLOSE.tooMany}. Code ${STREAM_CLOSE.catchUpFailed}: the resume failed, reconnect with a new ticket.
Code ${STREAM_CLOSE.reauthenticate}: the socket is ${STREAM_POLICY.maxSocketAgeMs / 60_000} minutes old, reconnect with a new ticket (a signed-out
or revoked session gets none). Code ${STREAM_CLOSE.accountClosed}: the account was deleted.
Reconnect with \`since\` = the last notification id received to miss nothing.
`.trim();

/** The stream authenticates with its ticket, not a session. */
export const notificationStreamRoutes = createRouter()
  .openapi(
    route({
      method: 'post',
      path: '/stream-ticket',
      operationId: 'notification.stream.createTicket',
      tags: ['notifications'],
      summary: 'A single-use ticket to open the live notification stream',
      auth: 'session',
      responses: {
        201: json(data(StreamTicket), `Ticket, valid once for ${STREAM_POLICY.ticketTtlMs / 1000} s`),
        ...errors({ 401: 'No valid session', 429: 'Too many tickets requested', 503: 'Live notifications unavailable' }),
      },
    }),
    async (c) => c.json({ data: await issueStreamTicket(serviceContext(c)) }, 201),
  )
  .openapi(
    route({
      method: 'get',
      path: '/stream',
      operationId: 'notification.stream.open',
      auth: 'streamTicket',
      tags: ['notifications'],
      summary: 'Live notifications over a WebSocket, with resume',
      description: STREAM_DESCRIPTION,
      request: { query: StreamQuery },
      responses: {
        101: { description: 'Switching Protocols: the WebSocket is open (messages above)' },
        ...errors({
          400: '`since` is not a notification id',
          401: 'Ticket missing, wrong, already used or expired (nothing is upgraded)',
          403: 'Browser origin not allowed',
          426: 'Not a WebSocket request (`Upgrade: websocket` missing)',
          503: 'Live notifications unavailable',
        }),
      },
    }),
    async (c) => {
      const { ticket, since } = c.req.valid('query');
      const { webSocket } = await openNotificationStream(serviceContext(c), { ticket, since, upgrade: c.req.header('Upgrade') });
      return new Response(null, { status: 101, webSocket });
    },
  );
