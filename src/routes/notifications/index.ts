import { notificationType } from '../../db/schema';
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
import { body, data, errors, guardUnmatched, json, PageMeta, Paging, route, sessionUserId, z } from '../kit';
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
  ...Paging.shape,
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

const MarkResult = data(z.object({ updated: z.number().int(), unreadCount: z.number().int() }));

const unauthorized = errors({ 401: 'No valid session' });
const invalid = errors({ 400: 'Invalid query or body' });
const notFound = errors({ 404: "Not one of the caller's notifications (nothing was changed)" });
const idsBody = body(Ids, { ids: ['6f1c2b8e-4d3a-4f5b-9c7e-1a2b3c4d5e6f'] });
const tags = ['notifications'];

// /stream authenticates with its ticket, not a session (see ./stream.ts).
export const notificationRoutes = createRouter()
  .route('/', notificationStreamRoutes)
  .openapi(
    route({
      method: 'get',
      path: '/',
      operationId: 'notification.list',
      tags,
      summary: "The caller's notifications, newest first",
      auth: 'session',
      request: { query: ListQuery },
      responses: {
        200: json(
          z.object({ data: z.array(Notification), meta: PageMeta.extend({ unreadCount: z.number().int() }) }),
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
    route({
      method: 'get',
      path: '/unread-count',
      operationId: 'notification.unreadCount',
      tags,
      summary: 'How many notifications the caller has not read',
      auth: 'session',
      responses: { 200: json(data(z.object({ count: z.number().int() })), 'Unread count'), ...unauthorized },
    }),
    async (c) => c.json({ data: { count: await getUnreadCount(serviceContext(c), sessionUserId(c)) } }, 200),
  )
  .openapi(
    route({
      method: 'post',
      path: '/mark-read',
      operationId: 'notification.markRead',
      tags,
      summary: 'Mark some of the caller’s notifications read',
      auth: 'session',
      request: idsBody,
      responses: { 200: json(MarkResult, 'Marked; updated counts the ones that were unread'), ...invalid, ...unauthorized, ...notFound },
    }),
    async (c) => c.json({ data: await markRead(serviceContext(c), c.req.valid('json')) }, 200),
  )
  .openapi(
    route({
      method: 'post',
      path: '/mark-unread',
      operationId: 'notification.markUnread',
      tags,
      summary: 'Mark some of the caller’s notifications unread',
      auth: 'session',
      request: idsBody,
      responses: { 200: json(MarkResult, 'Marked; updated counts the ones that were read'), ...invalid, ...unauthorized, ...notFound },
    }),
    async (c) => c.json({ data: await markUnread(serviceContext(c), c.req.valid('json')) }, 200),
  )
  .openapi(
    route({
      method: 'post',
      path: '/mark-all-read',
      operationId: 'notification.markAllRead',
      tags,
      summary: 'Mark every notification of the caller read',
      auth: 'session',
      responses: { 200: json(MarkResult, 'Marked'), ...unauthorized },
    }),
    async (c) => c.json({ data: await markAllRead(serviceContext(c)) }, 200),
  )
  .openapi(
    route({
      method: 'delete',
      path: '/{id}',
      operationId: 'notification.delete',
      tags,
      summary: 'Delete one of the caller’s notifications',
      auth: 'session',
      request: { params: z.object({ id: z.uuid() }) },
      responses: {
        200: json(data(z.object({ deleted: z.literal(true) })), 'Deleted'),
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
    route({
      method: 'delete',
      path: '/',
      operationId: 'notification.deleteRead',
      tags,
      summary: 'Delete all the caller’s read notifications',
      auth: 'session',
      responses: { 200: json(data(z.object({ deleted: z.number().int() })), 'How many were deleted'), ...unauthorized },
    }),
    async (c) => c.json({ data: await deleteReadNotifications(serviceContext(c)) }, 200),
  );

guardUnmatched(notificationRoutes, 'session');
