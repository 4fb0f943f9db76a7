import { notifyStar } from '../../services/stars';
import type { EventHandler } from '../types';

/** A star notifies the profile's owner (type STAR). */
export const starNotification: EventHandler<'profile.starred'> = {
  name: 'star-notification',
  run: (ctx, payload) => notifyStar(ctx, payload),
};
