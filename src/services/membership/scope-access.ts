import type { ServiceContext } from '../context';
import { authorize, type ProjectAccess, type TeamAccess } from './authz';
import type { Permission } from './permissions';
import { scope as describe, scopeOf, type Target } from './scopes';

/**
 * `authorize` at the target's own scope, for operations written once for every scope: the scope's id and
 * the permissions the caller may hand out there. `permission` is the scope's `read` / `manage` permission
 * (see scopes.ts) or any permission of that level.
 */
export async function authorizeScope(ctx: ServiceContext, input: { target: Target; permission: 'read' | 'manage' | Permission; lock?: boolean }) {
  const s = scopeOf(input.target);
  const d = describe(s);
  const permission = input.permission === 'read' || input.permission === 'manage' ? d[input.permission] : input.permission;
  const a = await authorize(ctx, { target: input.target, permission, lock: input.lock });
  const id = s === 'project' ? (a as ProjectAccess).project.id : s === 'team' ? (a as TeamAccess).team.id : a.org.id;
  // An org role also carries the team/project grants it hands down: all of them count at the org.
  const held: ReadonlySet<string> = s === 'organization' ? new Set(a.orgRole.permissions) : a.permissions;
  return { scope: s, d, id, orgId: a.org.id, held, can: a.can, userId: a.userId, access: a };
}
