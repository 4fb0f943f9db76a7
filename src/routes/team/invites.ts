import { createRouter, serviceContext } from '../../router';
import { body, data, errors, json, paged, pageOf, route, text, z } from '../kit';
import {
  acceptInvite,
  checkTeamInvitesBulk,
  createInvite,
  createTeamInvitesBulk,
  declineTeamInvite,
  listInvites,
  MAX_CSV_ROWS,
  MAX_INVITES_PER_CALL,
  previewTeamInvite,
  revokeInvite,
  ROW_ERROR_CODES,
} from '../../services/membership';
import { CodeBody, common, conflict, Email, ExpiresInDays, forbidden, IdOrSlug, Invite, InviteCode, inviteMailCap, InviteStatusQuery, RoleInput, RoleRefOut } from '../organization/schemas';
import { OrgQualifier, target, TeamPagedQuery, TeamParam, TeamQuery } from './params';

// Team invitations, mounted on /api/v1/team BEFORE the team routes (./index.ts): GET /invite/{code} must win
// over GET /{teamId}/… (a path like /invite/members matches both; see redocly.yaml, no-ambiguous-paths).

const TeamRefBody = { teamId: IdOrSlug, orgId: OrgQualifier };
const SingleInvite = z
  .object({ ...TeamRefBody, email: Email, role: RoleInput.optional(), expiresInDays: ExpiresInDays })
  .strict()
  .openapi('CreateTeamInvite');
const BulkInvites = z
  .union([
    z
      .object({
        ...TeamRefBody,
        expiresInDays: ExpiresInDays,
        invites: z
          .array(z.object({ email: text().max(320), role: RoleInput.optional() }).strict())
          .min(1)
          .max(MAX_INVITES_PER_CALL),
      })
      .strict(),
    z
      .object({
        ...TeamRefBody,
        expiresInDays: ExpiresInDays,
        csv: text().min(1).max(1_000_000).openapi({ description: `CSV text with a header row "email,role" (role optional); at most ${MAX_CSV_ROWS} rows` }),
      })
      .strict(),
  ])
  .openapi('CreateTeamInvitesBulk', {
    description: `Either a JSON list or CSV text. Every row is validated first: if any is invalid the answer is 400 with details.rows and nothing is created; at most ${MAX_INVITES_PER_CALL} invitations per call.`,
  });

const InvitesQuery = TeamPagedQuery.extend({ status: InviteStatusQuery });
const InviteParam = TeamParam.extend({ inviteId: z.uuid().openapi({ param: { name: 'inviteId', in: 'path' } }) });

const BulkQuery = z.object({
  dryRun: z
    .enum(['true', 'false'])
    .default('false')
    .openapi({ description: 'true: validate every row and answer per row (200); nothing is stored or sent' }),
});
const RowProblem = z.object({
  code: z.enum(ROW_ERROR_CODES),
  message: z.string(),
});
const BulkInviteCheck = z
  .object({
    summary: z.object({
      total: z.number().int(),
      valid: z.number().int(),
      invalid: z.number().int(),
      wouldCreate: z.boolean().openapi({ description: `The same request without dryRun would create every invitation (no invalid row, at most ${MAX_INVITES_PER_CALL})` }),
    }),
    rows: z.array(
      z.object({
        row: z.number().int().openapi({ description: '1-based; for CSV the data row, the header not counted' }),
        email: z.string().nullable(),
        role: RoleRefOut.nullable().openapi({ description: 'The role the invitation would carry (valid rows)' }),
        valid: z.boolean(),
        errors: z.array(RowProblem),
      }),
    ),
  })
  .openapi('BulkInviteCheck');

const Joined = z.object({
  organization: z.object({ id: z.uuid(), name: z.string(), slug: z.string() }),
  team: z.object({ id: z.uuid(), name: z.string(), slug: z.string() }),
  role: RoleRefOut,
});

const tags = ['team'];
const gone = errors({ 410: 'Expired, used, declined or revoked, or void: its inviter may no longer invite to this role (details.status)' });

export const teamInviteRoutes = createRouter()
  .openapi(
    route({
      method: 'post',
      path: '/invite',
      operationId: 'team.invite.create',
      tags,
      summary: 'Invite someone to the team by email (team:members:invite)',
      auth: 'session',
      request: body(SingleInvite, { teamId: 'platform', orgId: 'acme-labs', email: 'grace@example.com', role: 'Member' }),
      responses: {
        201: json(data(Invite), 'Invitation created; the email with the code follows'),
        ...common,
        ...inviteMailCap,
        ...forbidden,
        ...conflict('Already a member of the team, or a pending invitation for this email exists'),
      },
    }),
    async (c) => {
      const { teamId, orgId, ...input } = c.req.valid('json');
      return c.json({ data: await createInvite(serviceContext(c), { ...input, target: target(teamId, orgId) }) }, 201);
    },
  )
  .openapi(
    route({
      method: 'post',
      path: '/invite/bulk',
      operationId: 'team.invite.createBulk',
      tags,
      summary: 'Invite up to 100 people at once, from a JSON list or CSV text (all or nothing, within the invite-mail cap); ?dryRun=true only checks the rows',
      auth: 'session',
      request: { query: BulkQuery, ...body(BulkInvites, {
        teamId: 'platform',
        orgId: 'acme-labs',
        invites: [{ email: 'grace@example.com' }, { email: 'alan@example.com', role: 'Admin' }],
      }) },
      responses: {
        200: json(data(BulkInviteCheck), 'dryRun=true: the result for every row; nothing was stored or sent'),
        201: json(data(z.array(Invite)), 'All invitations created; the emails follow'),
        ...common,
        ...inviteMailCap,
        ...forbidden,
      },
    }),
    async (c) => {
      const { teamId, orgId, ...input } = c.req.valid('json');
      const ctx = serviceContext(c);
      if (c.req.valid('query').dryRun === 'true') {
        return c.json({ data: await checkTeamInvitesBulk(ctx, { ...input, target: target(teamId, orgId) }) }, 200);
      }
      return c.json({ data: await createTeamInvitesBulk(ctx, { ...input, target: target(teamId, orgId) }) }, 201);
    },
  )
  .openapi(
    route({
      method: 'get',
      path: '/invite/{code}',
      operationId: 'team.invite.preview',
      auth: 'public',
      tags,
      summary: 'Preview an invitation (public): organization, team, role and expiry',
      request: { params: z.object({ code: InviteCode.openapi({ param: { name: 'code', in: 'path' } }) }) },
      responses: {
        200: json(
          data(
            z.object({
              organization: z.object({ name: z.string(), slug: z.string() }),
              team: z.object({ name: z.string(), slug: z.string() }),
              role: z.object({ name: z.string() }),
              expiresAt: z.iso.datetime(),
            }),
          ),
          'The invitation',
        ),
        ...errors({ 400: 'Malformed code', 404: 'Unknown code, or its team/organization was deleted' }),
        ...gone,
      },
    }),
    async (c) => {
      c.header('Cache-Control', 'private, no-store');
      return c.json({ data: await previewTeamInvite(serviceContext(c), c.req.valid('param').code) }, 200);
    },
  )
  .openapi(
    route({
      method: 'post',
      path: '/accept-invite',
      operationId: 'team.invite.accept',
      tags,
      summary: "Accept a team invitation sent to the caller's email (joins the organization as Member if needed)",
      auth: 'session',
      request: body(CodeBody, { code: 'k3VqX8dM2pLr7TzN4wYc9BfH6sJa' }),
      responses: {
        200: json(data(Joined), 'Joined'),
        ...common,
        ...errors({ 403: 'The invitation was sent to a different email address' }),
        ...conflict('Already a member of the team'),
        ...gone,
      },
    }),
    async (c) => c.json({ data: await acceptInvite(serviceContext(c), { scope: 'team', code: c.req.valid('json').code }) }, 200),
  )
  .openapi(
    route({
      method: 'post',
      path: '/decline-invite',
      operationId: 'team.invite.decline',
      tags,
      summary: "Decline a team invitation sent to the caller's email",
      auth: 'session',
      request: body(CodeBody, { code: 'k3VqX8dM2pLr7TzN4wYc9BfH6sJa' }),
      responses: {
        200: json(data(z.object({ declined: z.literal(true) })), 'Declined'),
        ...common,
        ...errors({ 403: 'The invitation was sent to a different email address' }),
        ...gone,
      },
    }),
    async (c) => c.json({ data: await declineTeamInvite(serviceContext(c), c.req.valid('json').code) }, 200),
  )
  .openapi(
    route({
      method: 'get',
      path: '/{teamId}/invites',
      operationId: 'team.invite.list',
      tags,
      summary: 'Invitations of the team by status (team:members:invite)',
      auth: 'session',
      request: { params: TeamParam, query: InvitesQuery },
      responses: { 200: json(pageOf(Invite), 'Newest first'), ...common, ...forbidden },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const r = await listInvites(serviceContext(c), { ...q, target: target(c.req.valid('param').teamId, q.orgId) });
      return paged(c, r, q);
    },
  )
  .openapi(
    route({
      method: 'delete',
      path: '/{teamId}/invites/{inviteId}',
      operationId: 'team.invite.revoke',
      tags,
      summary: 'Revoke a pending (or expired) invitation (team:members:invite)',
      auth: 'session',
      request: { params: InviteParam, query: TeamQuery },
      responses: { 200: json(data(z.object({ id: z.uuid(), status: z.literal('revoked') })), 'Revoked'), ...common, ...forbidden, ...conflict('Already used, declined or revoked') },
    }),
    async (c) => {
      const p = c.req.valid('param');
      return c.json({ data: await revokeInvite(serviceContext(c), { target: target(p.teamId, c.req.valid('query').orgId), inviteId: p.inviteId }) }, 200);
    },
  );
