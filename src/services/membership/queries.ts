import { and, desc, eq, inArray, isNull, sql, type AnyColumn, type SQL } from 'drizzle-orm';
import { organizationMembers, organizations, projects, teams, users } from '../../db/schema';
import { AppError } from '../../lib/errors';
import type { ServiceContext } from '../context';
import { isUuid } from './format';
import { scope as describe, type Scope } from './scopes';

/*
 * The membership reads other areas need (the data export, the assistant's tools, cache invalidation),
 * written once over the scope descriptor.
 */

/** Ids of the active members of an org, team or project (a deleted account is no longer a member). */
export async function scopeMemberIds(ctx: ServiceContext, input: { scope: Scope; scopeId: string }): Promise<string[]> {
  const { members, memberScopeId } = describe(input.scope);
  const rows = await ctx.db.write
    .select({ userId: members.userId })
    .from(members)
    .innerJoin(users, and(eq(users.id, members.userId), isNull(users.deletedAt)))
    .where(eq(memberScopeId, input.scopeId));
  return rows.map((r) => r.userId);
}

/** Ids of the active members of the live organizations `userId` belongs to (themself included while active). */
export async function orgCoMemberIds(ctx: ServiceContext, input: { userId: string }): Promise<string[]> {
  const mine = ctx.db.write.select({ orgId: organizationMembers.orgId }).from(organizationMembers).where(eq(organizationMembers.userId, input.userId));
  const rows = await ctx.db.write
    .selectDistinct({ userId: organizationMembers.userId })
    .from(organizationMembers)
    .innerJoin(organizations, and(eq(organizations.id, organizationMembers.orgId), isNull(organizations.deletedAt)))
    .innerJoin(users, and(eq(users.id, organizationMembers.userId), isNull(users.deletedAt)))
    .where(inArray(organizationMembers.orgId, mine));
  return rows.map((r) => r.userId);
}

/** A role of the scope by id or (case-insensitive) name; 400 when it does not exist. */
export async function resolveRole(ctx: ServiceContext, input: { scope: Scope; scopeId: string; ref: string }) {
  const d = describe(input.scope);
  const cond = isUuid(input.ref) ? eq(d.roles.id, input.ref.toLowerCase()) : sql`lower(${d.roles.name}) = lower(${input.ref})`;
  const [r] = await ctx.db.write.select().from(d.roles).where(and(eq(d.roleScopeId, input.scopeId), cond)).limit(1);
  if (!r) {
    throw new AppError('VALIDATION_ERROR', `Unknown role "${input.ref}" for this ${d.noun}`, {
      details: { issues: [{ path: d.roleField, message: `not a role of this ${d.noun}` }] },
    });
  }
  return r;
}

export interface Membership {
  id: string;
  name: string;
  slug: string;
  description: string | null;
  visibility: 'PUBLIC' | 'PRIVATE' | 'INTERNAL';
  /** The user's role in this scope. */
  role: string;
  joinedAt: Date;
  deletedAt: Date | null;
  /** The organization a team or project belongs to (for an organization: itself). */
  organization: { name: string; slug: string };
  /** The team of a project (null for organizations and teams). */
  team: string | null;
  website: string | null;
  githubRepo: string | null;
  /** Only with `counts` (organizations and teams): members (every account), and teams of an organization / projects of a team (live ones). */
  memberCount?: number;
  childCount?: number;
}

/**
 * A user's memberships at one scope, most recent first. `live` leaves out deleted scopes (and scopes
 * under a deleted parent); without it deleted ones are included with their `deletedAt` (the data export
 * lists everything we hold).
 */
export async function userMemberships(ctx: ServiceContext, input: { userId: string; scope: Scope; live: boolean; limit: number; counts?: boolean }): Promise<Membership[]> {
  const d = describe(input.scope);
  const org = input.scope === 'organization';
  const project = input.scope === 'project';
  const live = (deletedAt: AnyColumn) => (input.live ? isNull(deletedAt) : undefined);
  /** A column of one scope's row only (null at the others). */
  const only = <T>(when: boolean, c: AnyColumn | SQL) => (when ? sql<T>`${c}` : sql<T>`null`);
  const counted = Boolean(input.counts) && !project;
  const rows = await (org
    ? ctx.db.read.select(fields()).from(d.members).innerJoin(organizations, and(eq(organizations.id, d.memberScopeId), live(organizations.deletedAt)))
    : project
      ? ctx.db.read
          .select(fields())
          .from(d.members)
          .innerJoin(projects, and(eq(projects.id, d.memberScopeId), live(projects.deletedAt)))
          .innerJoin(teams, and(eq(teams.id, projects.teamId), live(teams.deletedAt)))
          .innerJoin(organizations, and(eq(organizations.id, teams.orgId), live(organizations.deletedAt)))
      : ctx.db.read
          .select(fields())
          .from(d.members)
          .innerJoin(teams, and(eq(teams.id, d.memberScopeId), live(teams.deletedAt)))
          .innerJoin(organizations, and(eq(organizations.id, teams.orgId), live(organizations.deletedAt)))
  )
    .innerJoin(d.roles, eq(d.roles.id, d.members.roleId))
    .where(eq(d.members.userId, input.userId))
    .orderBy(desc(d.members.joinedAt))
    .limit(input.limit);
  return rows.map(({ orgName, orgSlug, memberCount, childCount, ...r }) => ({
    ...r,
    organization: { name: orgName, slug: orgSlug },
    ...(counted ? { memberCount: Number(memberCount), childCount: Number(childCount) } : {}),
  }));

  function fields() {
    const t = org ? organizations : project ? projects : teams;
    return {
      id: sql<string>`${t.id}`,
      name: sql<string>`${t.name}`,
      slug: sql<string>`${t.slug}`,
      description: sql<string | null>`${t.description}`,
      visibility: org
        ? sql<Membership['visibility']>`case when ${organizations.isPublic} then 'PUBLIC' else 'PRIVATE' end`
        : sql<Membership['visibility']>`${project ? projects.visibility : teams.visibility}`,
      role: d.roles.name,
      joinedAt: d.members.joinedAt,
      deletedAt: sql<Date | null>`${t.deletedAt}`.mapWith(t.deletedAt),
      orgName: organizations.name,
      orgSlug: organizations.slug,
      team: only<string | null>(project, teams.name),
      website: only<string | null>(org, organizations.website),
      githubRepo: only<string | null>(project, projects.githubRepo),
      // Every account counts here, as the assistant has always reported it.
      memberCount: only<number | null>(counted, org ? sql`(select count(*)::int from organization_members m2 where m2.org_id = ${organizations.id})` : sql`(select count(*)::int from team_members m2 where m2.team_id = ${teams.id})`),
      childCount: only<number | null>(
        counted,
        org
          ? sql`(select count(*)::int from teams t2 where t2.org_id = ${organizations.id} and t2.deleted_at is null)`
          : sql`(select count(*)::int from projects p2 where p2.team_id = ${teams.id} and p2.deleted_at is null)`,
      ),
    };
  }
}
