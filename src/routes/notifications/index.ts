import { createRoute, z } from '@hono/zod-openapi';
import { notificationType } from '../../db/schema';
import { requireUser } from '../../middleware/auth';
import { createRouter, serviceContext } from '../../router';
import {
  deleteNotification,
  deleteReadNotifications,
  getUnreadCount,
  listNotifications,
  markAllRead,
  markRead,
  markUnread,
} from '../../services/notifications';
import { ErrorResponse } from '../schemas';
import { notificationStreamRoutes } from './stream';

const NotificationType = z.enum(notificationType.enumValues).openapi('NotificationType');

const Notification = z
  .object({
    id: z.uuid(),
    type: NotificationType,
    title: z.string(),
    message: z.string(),
    description: z.string().nullable(),
    actionUrl: z.string().nullable(),
    actionLabel: z.string().nullable(),
    metadata: z.record(z.string(), z.unknown()).nullable(),
    read: z.boolean(),
    readAt: z.iso.datetime().nullable(),
    createdAt: z.iso.datetime(),
  })
  .openapi('Notification');

const ListQuery = z.object({
  read: z.enum(['true', 'false']).optional().openapi({ description: 'Only read (true) or only unread (false) notifications' }),
  type: NotificationType.optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  offset: z.coerce.number().int().min(0).default(0),
});

const Ids = z
  .object({
    ids: z
      .array(z.uuid())
      .min(1)
      .max(100)
      .refine((ids) => new Set(ids.map((id) => id.toLowerCase())).size === ids.length, 'ids must be unique'),
  })
  .openapi('NotificationIds');

const MarkResult = z.object({ data: z.object({ updated: z.number().int(), unreadCount: z.number().int() }) });

const json = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } });
const security = [{ clerkSession: [] }];
const unauthorized = { 401: json(ErrorResponse, 'No valid session') };
const invalid = { 400: json(ErrorResponse, 'Invalid query or body') };
const notFound = { 404: json(ErrorResponse, "Not one of the caller's notifications (nothing was changed)") };
const idsBody = { body: { required: true, content: { 'application/json': { schema: Ids } } } };

const router = createRouter();
// First, so /stream (ticket, no session) answers before the session check below applies.
router.route('/', notificationStreamRoutes);
router.use('*', requireUser);

export const notificationRoutes = router
  .openapi(
    createRoute({
      method: 'get',
      path: '/',
      tags: ['notifications'],
      summary: "The caller's notifications, newest first",
      security,
      request: { query: ListQuery },
      responses: {
        200: json(
          z.object({
            data: z.array(Notification),
            meta: z.object({ total: z.number().int(), limit: z.number().int(), offset: z.number().int(), unreadCount: z.number().int() }),
          }),
          'A page of notifications; total counts the filtered set, unreadCount all unread',
        ),
        ...invalid,
        ...unauthorized,
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const read = q.read === undefined ? undefined : q.read === 'true';
      const page = await listNotifications(serviceContext(c), { read, type: q.type, limit: q.limit, offset: q.offset });
      return c.json({ data: page.items, meta: { total: page.total, limit: q.limit, offset: q.offset, unreadCount: page.unreadCount } }, 200);
    },
  )
  .openapi(
    createRoute({
      method: 'get',
      path: '/unread-count',
      tags: ['notifications'],
      summary: 'How many notifications the caller has not read',
      security,
      responses: { 200: json(z.object({ data: z.object({ count: z.number().int() }) }), 'Unread count'), ...unauthorized },
    }),
    async (c) => c.json({ data: { count: await getUnreadCount(serviceContext(c), c.get('userId')!) } }, 200),
  )
  .openapi(
    createRoute({
      method: 'post',
      path: '/mark-read',
      tags: ['notifications'],
      summary: 'Mark some of the caller’s notifications read',
      security,
      request: idsBody,
      responses: { 200: json(MarkResult, 'Marked; updated counts the ones that were unread'), ...invalid, ...unauthorized, ...notFound },
    }),
    async (c) => c.json({ data: await markRead(serviceContext(c), c.req.valid('json')) }, 200),
  )
  .openapi(
    createRoute({
      method: 'post',
      path: '/mark-unread',
      tags: ['notifications'],
      summary: 'Mark some of the caller’s notifications unread',
      security,
      request: idsBody,
      responses: { 200: json(MarkResult, 'Marked; updated counts the ones that were read'), ...invalid, ...unauthorized, ...notFound },
    }),
    async (c) => c.json({ data: await markUnread(serviceContext(c), c.req.valid('json')) }, 200),
  )
  .openapi(
    createRoute({
      method: 'post',
      path: '/mark-all-read',
      tags: ['notifications'],
      summary: 'Mark every notification of the caller read',
      security,
      responses: { 200: json(MarkResult, 'Marked'), ...unauthorized },
    }),
    async (c) => c.json({ data: await markAllRead(serviceContext(c)) }, 200),
  )
  .openapi(
    createRoute({
      method: 'delete',
      path: '/{id}',
      tags: ['notifications'],
      summary: 'Delete one of the caller’s notifications',
      security,
      request: { params: z.object({ id: z.uuid() }) },
      responses: {
        200: json(z.object({ data: z.object({ deleted: z.literal(true) }) }), 'Deleted'),
        ...invalid,
        ...unauthorized,
        ...notFound,
      },
    }),
    async (c) => {
      await deleteNotification(serviceContext(c), c.req.valid('param'));
      return c.json({ data: { deleted: true as const } }, 200);
    },
  )
  .openapi(
    createRoute({
      method: 'delete',
      path: '/',
      tags: ['notifications'],
      summary: 'Delete all the caller’s read notifications',
      security,
      responses: { 200: json(z.object({ data: z.object({ deleted: z.number().int() }) }), 'How many were deleted'), ...unauthorized },
    }),
    async (c) => c.json({ data: await deleteReadNotifications(serviceContext(c)) }, 200),
  );
