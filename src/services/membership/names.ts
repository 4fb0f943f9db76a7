import { and, eq, isNull, ne, sql } from 'drizzle-orm';
import { projects, teams } from '../../db/schema';
import { AppError } from '../../lib/errors';
import type { ServiceContext } from '../context';

/*
 * Team names and slugs are unique among the live teams of their organization, project names and slugs among
 * the live projects of their team (partial unique indexes, names case-insensitive). Checked up front for a
 * 409 that names the field; the index still decides a race (`conflictOn` with these messages).
 */

export const TEAM_UNIQUE = {
  teams_org_slug_active_uq: 'A team with this slug already exists in the organization',
  teams_org_name_active_uq: 'A team with this name already exists in the organization',
};

export const PROJECT_UNIQUE = {
  projects_team_slug_active_uq: 'A project with this slug already exists in the team',
  projects_team_name_active_uq: 'A project with this name already exists in the team',
};

const LEVELS = {
  team: { table: teams, parent: teams.orgId, slugTaken: TEAM_UNIQUE.teams_org_slug_active_uq, nameTaken: TEAM_UNIQUE.teams_org_name_active_uq },
  project: { table: projects, parent: projects.teamId, slugTaken: PROJECT_UNIQUE.projects_team_slug_active_uq, nameTaken: PROJECT_UNIQUE.projects_team_name_active_uq },
};

/** 409 when a live sibling (other than `exceptId`) already has this slug or (case-insensitively) this name. */
export async function assertNameFree(
  ctx: ServiceContext,
  input: { level: 'team' | 'project'; parentId: string; name?: string; slug?: string; exceptId?: string },
): Promise<void> {
  const { table, parent, slugTaken, nameTaken } = LEVELS[input.level] as unknown as (typeof LEVELS)['team'];
  const sibling = async (same: ReturnType<typeof eq>) => {
    const [hit] = await ctx.db.write
      .select({ id: table.id })
      .from(table)
      .where(and(eq(parent, input.parentId), same, isNull(table.deletedAt), input.exceptId ? ne(table.id, input.exceptId) : undefined))
      .limit(1);
    return Boolean(hit);
  };
  if (input.slug !== undefined && (await sibling(eq(table.slug, input.slug)))) throw new AppError('CONFLICT', slugTaken, { details: { field: 'slug' } });
  if (input.name !== undefined && (await sibling(sql`lower(${table.name}) = lower(${input.name})`))) {
    throw new AppError('CONFLICT', nameTaken, { details: { field: 'name' } });
  }
}
