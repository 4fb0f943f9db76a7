import {
  mailAccountDeleted,
  mailAccountRecovered,
  mailWelcome,
  notifyAccountRecovered,
  notifyWelcome,
  syncNamesToClerk,
} from '../../services/users/announce';
import { forgetDeletedUser } from '../../services/users';
import type { EventHandler } from '../types';

export const welcomeEmail: EventHandler<'user.created'> = {
  name: 'welcome-email',
  run: (ctx, { userId }) => mailWelcome(ctx, { userId, idempotencyKey: ctx.idempotencyKey }),
};

export const welcomeNotification: EventHandler<'user.created'> = {
  name: 'welcome-notification',
  run: (ctx, { userId }) => notifyWelcome(ctx, userId),
};

export const accountDeletedEmail: EventHandler<'user.deleted'> = {
  name: 'account-deleted-email',
  run: (ctx, { userId }) => mailAccountDeleted(ctx, { userId, idempotencyKey: ctx.idempotencyKey }),
};

export const forgetDeleted: EventHandler<'user.deleted'> = {
  name: 'forget-deleted-user',
  run: (ctx, { userId }) => forgetDeletedUser(ctx, userId),
};

export const accountRecoveredEmail: EventHandler<'user.recovered'> = {
  name: 'account-recovered-email',
  run: (ctx, { userId }) => mailAccountRecovered(ctx, { userId, idempotencyKey: ctx.idempotencyKey }),
};

export const pushNamesToClerk: EventHandler<'user.name_changed'> = {
  name: 'clerk-name-sync',
  run: (ctx, { userId }) => syncNamesToClerk(ctx, userId),
};

export const accountRecoveredNotification: EventHandler<'user.recovered'> = {
  name: 'account-recovered-notification',
  run: (ctx, { userId }) => notifyAccountRecovered(ctx, userId),
};
