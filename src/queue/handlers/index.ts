import type { HandlerTable } from '../types';
import { starNotification } from './stars';
import { accountDeletedEmail, accountRecoveredEmail, accountRecoveredNotification, pushNamesToClerk, welcomeEmail, welcomeNotification } from './users';

/** Which handlers react to which event. Every event in the catalog is listed (the type enforces it). */
export const HANDLERS: HandlerTable = {
  'user.created': [welcomeEmail, welcomeNotification],
  'user.deleted': [accountDeletedEmail],
  'user.recovered': [accountRecoveredEmail, accountRecoveredNotification],
  'user.name_changed': [pushNamesToClerk],
  'profile.starred': [starNotification],
};
