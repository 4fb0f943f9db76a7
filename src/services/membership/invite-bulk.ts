import { AppError } from '../../lib/errors';
import { withTransaction, type ServiceContext } from '../context';
import type { TeamTarget } from './authz';
import { limitedCaller } from './caller';
import { entriesOf, type BulkInput } from './invite-csv';
import { withInviteMailCap } from './invite-mail-cap';
import { insertInvites, prepareInvites, type InviteView, type RowError } from './invite-rows';
import { authorizeScope } from './scope-access';

export const MAX_INVITES_PER_CALL = 100;

/**
 * POST /team/invite/bulk — a JSON list or CSV text. Every row is validated first; if any row is invalid
 * the answer is 400 with the per-row errors and nothing is created or sent. Otherwise all invites are
 * created in one transaction (≤ 100 per call; a CSV may have up to 1000 rows, so its errors can all be
 * reported at once) — or none, with 429, when they would pass the invite-mail cap.
 */
export async function createTeamInvitesBulk(ctx: ServiceContext, input: BulkInput & { target: TeamTarget; expiresInDays: number }): Promise<InviteView[]> {
  await limitedCaller(ctx, 'orgUpdate');
  return withInviteMailCap(ctx, (reserveMail) =>
    withTransaction(ctx, async (_tx, ctx) => {
      const a = await authorizeScope(ctx, { target: input.target, permission: 'team:members:invite', lock: true });
      const entries = entriesOf(input);
      const { ok, errors } = await prepareInvites(ctx, { scope: 'team', scopeId: a.id, held: a.held, entries });
      if (errors.length) {
        throw new AppError('VALIDATION_ERROR', `${errors.length} of ${entries.length} rows are invalid; nothing was sent`, { details: { rows: errors } });
      }
      if (ok.length > MAX_INVITES_PER_CALL) {
        throw new AppError('VALIDATION_ERROR', `At most ${MAX_INVITES_PER_CALL} invitations per call (got ${ok.length}); nothing was sent`, {
          details: { issues: [{ path: 'invites', message: `at most ${MAX_INVITES_PER_CALL}` }] },
        });
      }
      return insertInvites(ctx, { scope: 'team', scopeId: a.id, orgId: a.orgId, reserveMail, prepared: ok, expiresInDays: input.expiresInDays, bulk: true });
    }),
  );
}

export interface BulkInviteCheck {
  /** wouldCreate: the same request without dryRun would create every invitation (no invalid row, ≤ 100). */
  summary: { total: number; valid: number; invalid: number; wouldCreate: boolean };
  /** One entry per row, in order: the invitation it would create, or why it would be refused. */
  rows: { row: number; email: string | null; role: { id: string; name: string } | null; valid: boolean; errors: RowError['errors'] }[];
}

/**
 * POST /team/invite/bulk?dryRun=true — the same parsing, permission and per-row checks as
 * createTeamInvitesBulk, answered row by row. Reads only: nothing is stored, audited or sent.
 */
export async function checkTeamInvitesBulk(ctx: ServiceContext, input: BulkInput & { target: TeamTarget }): Promise<BulkInviteCheck> {
  await limitedCaller(ctx, 'orgRead');
  const a = await authorizeScope(ctx, { target: input.target, permission: 'team:members:invite' });
  const entries = entriesOf(input);
  const { ok, errors } = await prepareInvites(ctx, { scope: 'team', scopeId: a.id, held: a.held, entries });
  const failed = new Map(errors.map((e) => [e.row, e]));
  const valid = ok.values();
  const rows = entries.map((_, i) => {
    const bad = failed.get(i + 1);
    if (bad) return { row: i + 1, email: bad.email, role: null, valid: false, errors: bad.errors };
    const p = valid.next().value!; // ok keeps the order of the valid rows
    return { row: i + 1, email: p.email, role: { id: p.roleId, name: p.roleName }, valid: true, errors: [] };
  });
  const wouldCreate = errors.length === 0 && ok.length <= MAX_INVITES_PER_CALL;
  return { summary: { total: entries.length, valid: ok.length, invalid: errors.length, wouldCreate }, rows };
}
