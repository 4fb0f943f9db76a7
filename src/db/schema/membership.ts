import { sql } from 'drizzle-orm';
import {
  type AnyPgColumn,
  boolean,
  check,
  foreignKey,
  index,
  jsonb,
  pgTable,
  text,
  unique,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import { createdAt, timestamptz, updatedAt, uuidPk } from './columns';
import { logLevel, visibility } from './enums';
import { users } from './users';

// Organizations → teams → projects. Each level has the same satellite tables:
//   <scope>_roles       named roles holding a flat list of permission strings ('org:read', 'team:update', …)
//   <scope>_members     one row per (scope, user) with exactly one role; the role must belong to the same scope
//                       (composite FK (role_id, <scope>_id) → <scope>_roles (id, <scope>_id))
//   <scope>_invites     (organizations and teams) invite codes, stored only as SHA-256 hex (code_hash), never the code itself
//   <scope>_audit_logs  append-only (triggers refuse UPDATE and DELETE; an UPDATE changing only actor_id — the
//                       ON UPDATE CASCADE of a user re-key — is let through)
// Orgs, teams and projects are soft-deleted (deleted_at): names and slugs are unique among live rows only.
// Parents are RESTRICT; roles/members/invites CASCADE from their scope; audit logs RESTRICT.

/** Slugs: lower-case letters, digits and '-', 1–100 chars, and never shaped like a UUID (paths accept id or slug). */
const slugCheck = (name: string, col: AnyPgColumn) =>
  check(
    name,
    sql`${col} ~ '^[a-z0-9-]{1,100}$' and ${col} !~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'`,
  );

/** SHA-256 hex of an invite code. */
const codeHashCheck = (name: string, col: AnyPgColumn) => check(name, sql`${col} ~ '^[0-9a-f]{64}$'`);

// ───────────────────────────── organizations ─────────────────────────────

export const organizations = pgTable(
  'organizations',
  {
    id: uuidPk(),
    name: text('name').notNull(),
    slug: text('slug').notNull(),
    description: text('description'),
    website: text('website'),
    logoUrl: text('logo_url'),
    location: text('location'),
    timezone: text('timezone'),
    isPublic: boolean('is_public').notNull().default(true),
    joinEnabled: boolean('join_enabled').notNull().default(false),
    deletedAt: timestamptz('deleted_at'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    // Case-insensitive name uniqueness among live organizations (original: global unique → 500 on clash).
    uniqueIndex('organizations_name_active_uq').on(sql`lower(${t.name})`).where(sql`${t.deletedAt} is null`),
    uniqueIndex('organizations_slug_active_uq').on(t.slug).where(sql`${t.deletedAt} is null`),
    slugCheck('organizations_slug_chk', t.slug),
  ],
);

export const organizationRoles = pgTable(
  'organization_roles',
  {
    id: uuidPk(),
    orgId: uuid('org_id')
      .notNull()
      .references(() => organizations.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    description: text('description'),
    /** Flat list of permission strings, e.g. {'org:read','org:update','members:invite'}. */
    permissions: text('permissions').array().notNull().default(sql`'{}'::text[]`),
    /** True for the built-in roles created with the organization (Owner, Co-Owner, Maintainer, Member). */
    isDefault: boolean('is_default').notNull().default(false),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    unique('organization_roles_org_name_uq').on(t.orgId, t.name),
    // Target of the composite FKs that keep a member's/invite's role inside the same organization.
    unique('organization_roles_id_org_uq').on(t.id, t.orgId),
  ],
);

export const organizationMembers = pgTable(
  'organization_members',
  {
    id: uuidPk(),
    orgId: uuid('org_id')
      .notNull()
      .references(() => organizations.id, { onDelete: 'cascade' }),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade', onUpdate: 'cascade' }),
    roleId: uuid('role_id').notNull(),
    joinedAt: timestamptz('joined_at').notNull().defaultNow(),
    updatedAt: updatedAt(),
  },
  (t) => [
    unique('organization_members_org_user_uq').on(t.orgId, t.userId),
    index('organization_members_user_idx').on(t.userId),
    index('organization_members_role_idx').on(t.roleId),
    foreignKey({
      name: 'organization_members_role_same_org_fk',
      columns: [t.roleId, t.orgId],
      foreignColumns: [organizationRoles.id, organizationRoles.orgId],
    }),
  ],
);

export const organizationInvites = pgTable(
  'organization_invites',
  {
    id: uuidPk(),
    orgId: uuid('org_id')
      .notNull()
      .references(() => organizations.id, { onDelete: 'cascade' }),
    email: text('email').notNull(),
    roleId: uuid('role_id').notNull(),
    codeHash: text('code_hash').notNull().unique('organization_invites_code_hash_uq'),
    expiresAt: timestamptz('expires_at').notNull(),
    createdBy: text('created_by')
      .notNull()
      .references(() => users.id, { onUpdate: 'cascade' }),
    createdAt: createdAt(),
    usedAt: timestamptz('used_at'),
    usedBy: text('used_by').references(() => users.id, { onUpdate: 'cascade' }),
    revokedAt: timestamptz('revoked_at'),
  },
  (t) => [
    index('organization_invites_org_email_idx').on(t.orgId, t.email),
    index('organization_invites_org_created_idx').on(t.orgId, t.createdAt),
    foreignKey({
      name: 'organization_invites_role_same_org_fk',
      columns: [t.roleId, t.orgId],
      foreignColumns: [organizationRoles.id, organizationRoles.orgId],
    }).onDelete('cascade'),
    codeHashCheck('organization_invites_code_hash_chk', t.codeHash),
    check('organization_invites_expiry_chk', sql`${t.expiresAt} > ${t.createdAt}`),
    check('organization_invites_used_pair_chk', sql`(${t.usedAt} is null) = (${t.usedBy} is null)`),
    check('organization_invites_one_outcome_chk', sql`num_nonnulls(${t.usedAt}, ${t.revokedAt}) <= 1`),
  ],
);

/** Append-only (triggers organization_audit_logs_no_update / _no_delete). `action` like 'org.update'. */
export const organizationAuditLogs = pgTable(
  'organization_audit_logs',
  {
    id: uuidPk(),
    orgId: uuid('org_id')
      .notNull()
      .references(() => organizations.id, { onDelete: 'restrict' }),
    /** Null for actions taken by the system (jobs, webhooks). */
    actorId: text('actor_id').references(() => users.id, { onUpdate: 'cascade' }),
    action: text('action').notNull(),
    targetType: text('target_type'),
    targetId: text('target_id'),
    level: logLevel('level').notNull().default('INFO'),
    /** `{ before: {...}, after: {...} }` for updates; free-form details otherwise. */
    changes: jsonb('changes').$type<Record<string, unknown>>(),
    createdAt: createdAt(),
  },
  (t) => [
    index('organization_audit_logs_org_created_idx').on(t.orgId, t.createdAt),
    index('organization_audit_logs_actor_idx').on(t.actorId),
  ],
);

// ───────────────────────────── teams ─────────────────────────────

export const teams = pgTable(
  'teams',
  {
    id: uuidPk(),
    orgId: uuid('org_id')
      .notNull()
      .references(() => organizations.id, { onDelete: 'restrict' }),
    name: text('name').notNull(),
    slug: text('slug').notNull(),
    description: text('description'),
    website: text('website'),
    logoUrl: text('logo_url'),
    location: text('location'),
    timezone: text('timezone'),
    visibility: visibility('visibility').notNull().default('INTERNAL'),
    joinEnabled: boolean('join_enabled').notNull().default(false),
    deletedAt: timestamptz('deleted_at'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    uniqueIndex('teams_org_name_active_uq').on(t.orgId, sql`lower(${t.name})`).where(sql`${t.deletedAt} is null`),
    uniqueIndex('teams_org_slug_active_uq').on(t.orgId, t.slug).where(sql`${t.deletedAt} is null`),
    index('teams_org_created_idx').on(t.orgId, t.createdAt),
    slugCheck('teams_slug_chk', t.slug),
  ],
);

export const teamRoles = pgTable(
  'team_roles',
  {
    id: uuidPk(),
    teamId: uuid('team_id')
      .notNull()
      .references(() => teams.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    description: text('description'),
    /** Flat list of permission strings, e.g. {'team:read','team:update','members:invite'}. */
    permissions: text('permissions').array().notNull().default(sql`'{}'::text[]`),
    /** True for the built-in roles created with the team (Owner, Admin, Member). */
    isDefault: boolean('is_default').notNull().default(false),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [unique('team_roles_team_name_uq').on(t.teamId, t.name), unique('team_roles_id_team_uq').on(t.id, t.teamId)],
);

export const teamMembers = pgTable(
  'team_members',
  {
    id: uuidPk(),
    teamId: uuid('team_id')
      .notNull()
      .references(() => teams.id, { onDelete: 'cascade' }),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade', onUpdate: 'cascade' }),
    roleId: uuid('role_id').notNull(),
    joinedAt: timestamptz('joined_at').notNull().defaultNow(),
    updatedAt: updatedAt(),
  },
  (t) => [
    unique('team_members_team_user_uq').on(t.teamId, t.userId),
    index('team_members_user_idx').on(t.userId),
    index('team_members_role_idx').on(t.roleId),
    foreignKey({
      name: 'team_members_role_same_team_fk',
      columns: [t.roleId, t.teamId],
      foreignColumns: [teamRoles.id, teamRoles.teamId],
    }),
  ],
);

export const teamInvites = pgTable(
  'team_invites',
  {
    id: uuidPk(),
    teamId: uuid('team_id')
      .notNull()
      .references(() => teams.id, { onDelete: 'cascade' }),
    email: text('email').notNull(),
    roleId: uuid('role_id').notNull(),
    codeHash: text('code_hash').notNull().unique('team_invites_code_hash_uq'),
    expiresAt: timestamptz('expires_at').notNull(),
    createdBy: text('created_by')
      .notNull()
      .references(() => users.id, { onUpdate: 'cascade' }),
    createdAt: createdAt(),
    usedAt: timestamptz('used_at'),
    usedBy: text('used_by').references(() => users.id, { onUpdate: 'cascade' }),
    declinedAt: timestamptz('declined_at'),
    revokedAt: timestamptz('revoked_at'),
  },
  (t) => [
    index('team_invites_team_email_idx').on(t.teamId, t.email),
    index('team_invites_team_created_idx').on(t.teamId, t.createdAt),
    foreignKey({
      name: 'team_invites_role_same_team_fk',
      columns: [t.roleId, t.teamId],
      foreignColumns: [teamRoles.id, teamRoles.teamId],
    }).onDelete('cascade'),
    codeHashCheck('team_invites_code_hash_chk', t.codeHash),
    check('team_invites_expiry_chk', sql`${t.expiresAt} > ${t.createdAt}`),
    check('team_invites_used_pair_chk', sql`(${t.usedAt} is null) = (${t.usedBy} is null)`),
    check('team_invites_one_outcome_chk', sql`num_nonnulls(${t.usedAt}, ${t.declinedAt}, ${t.revokedAt}) <= 1`),
  ],
);

/** Append-only (triggers team_audit_logs_no_update / _no_delete). */
export const teamAuditLogs = pgTable(
  'team_audit_logs',
  {
    id: uuidPk(),
    teamId: uuid('team_id')
      .notNull()
      .references(() => teams.id, { onDelete: 'restrict' }),
    actorId: text('actor_id').references(() => users.id, { onUpdate: 'cascade' }),
    action: text('action').notNull(),
    targetType: text('target_type'),
    targetId: text('target_id'),
    level: logLevel('level').notNull().default('INFO'),
    changes: jsonb('changes').$type<Record<string, unknown>>(),
    createdAt: createdAt(),
  },
  (t) => [
    index('team_audit_logs_team_created_idx').on(t.teamId, t.createdAt),
    index('team_audit_logs_actor_idx').on(t.actorId),
  ],
);

// ───────────────────────────── projects ─────────────────────────────

export const projects = pgTable(
  'projects',
  {
    id: uuidPk(),
    teamId: uuid('team_id')
      .notNull()
      .references(() => teams.id, { onDelete: 'restrict' }),
    name: text('name').notNull(),
    slug: text('slug').notNull(),
    description: text('description'),
    website: text('website'),
    visibility: visibility('visibility').notNull().default('INTERNAL'),
    /** Linked GitHub repository as 'owner/name' (GitHub webhooks are matched on it, case-insensitively). */
    githubRepo: text('github_repo'),
    /**
     * HMAC key of this project's GitHub webhook (X-Hub-Signature-256): 32 random bytes, base64url, minted
     * whenever githubRepo is set or changed (or rotated) and shown to the caller once; null while no repository
     * is linked. A delivery reaches only the projects whose secret signed it. Never returned by reads, never logged.
     */
    githubWebhookSecret: text('github_webhook_secret'),
    createdBy: text('created_by')
      .notNull()
      .references(() => users.id, { onUpdate: 'cascade' }),
    updatedBy: text('updated_by').references(() => users.id, { onUpdate: 'cascade' }),
    deletedAt: timestamptz('deleted_at'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    uniqueIndex('projects_team_name_active_uq').on(t.teamId, sql`lower(${t.name})`).where(sql`${t.deletedAt} is null`),
    uniqueIndex('projects_team_slug_active_uq').on(t.teamId, t.slug).where(sql`${t.deletedAt} is null`),
    index('projects_team_created_idx').on(t.teamId, t.createdAt),
    index('projects_github_repo_idx')
      .on(sql`lower(${t.githubRepo})`)
      .where(sql`${t.githubRepo} is not null and ${t.deletedAt} is null`),
    slugCheck('projects_slug_chk', t.slug),
    check(
      'projects_github_repo_chk',
      sql`${t.githubRepo} is null or ${t.githubRepo} ~ '^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$'`,
    ),
    // A webhook secret exists only with a linked repository, and is never empty or short (a short secret is guessable).
    check(
      'projects_github_webhook_secret_chk',
      sql`${t.githubWebhookSecret} is null or (${t.githubRepo} is not null and length(${t.githubWebhookSecret}) >= 32)`,
    ),
  ],
);

export const projectRoles = pgTable(
  'project_roles',
  {
    id: uuidPk(),
    projectId: uuid('project_id')
      .notNull()
      .references(() => projects.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    description: text('description'),
    /** Flat list of permission strings, e.g. {'project:read','project:update'}. */
    permissions: text('permissions').array().notNull().default(sql`'{}'::text[]`),
    /** True for the built-in roles created with the project. */
    isDefault: boolean('is_default').notNull().default(false),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    unique('project_roles_project_name_uq').on(t.projectId, t.name),
    unique('project_roles_id_project_uq').on(t.id, t.projectId),
  ],
);

export const projectMembers = pgTable(
  'project_members',
  {
    id: uuidPk(),
    projectId: uuid('project_id')
      .notNull()
      .references(() => projects.id, { onDelete: 'cascade' }),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade', onUpdate: 'cascade' }),
    roleId: uuid('role_id').notNull(),
    joinedAt: timestamptz('joined_at').notNull().defaultNow(),
    updatedAt: updatedAt(),
  },
  (t) => [
    unique('project_members_project_user_uq').on(t.projectId, t.userId),
    index('project_members_user_idx').on(t.userId),
    index('project_members_role_idx').on(t.roleId),
    foreignKey({
      name: 'project_members_role_same_project_fk',
      columns: [t.roleId, t.projectId],
      foreignColumns: [projectRoles.id, projectRoles.projectId],
    }),
  ],
);

/** Append-only (triggers project_audit_logs_no_update / _no_delete). */
export const projectAuditLogs = pgTable(
  'project_audit_logs',
  {
    id: uuidPk(),
    projectId: uuid('project_id')
      .notNull()
      .references(() => projects.id, { onDelete: 'restrict' }),
    actorId: text('actor_id').references(() => users.id, { onUpdate: 'cascade' }),
    action: text('action').notNull(),
    targetType: text('target_type'),
    targetId: text('target_id'),
    level: logLevel('level').notNull().default('INFO'),
    changes: jsonb('changes').$type<Record<string, unknown>>(),
    createdAt: createdAt(),
  },
  (t) => [
    index('project_audit_logs_project_created_idx').on(t.projectId, t.createdAt),
    index('project_audit_logs_actor_idx').on(t.actorId),
  ],
);

export type Organization = typeof organizations.$inferSelect;
export type NewOrganization = typeof organizations.$inferInsert;
export type OrganizationRole = typeof organizationRoles.$inferSelect;
export type OrganizationMember = typeof organizationMembers.$inferSelect;
export type OrganizationInvite = typeof organizationInvites.$inferSelect;
export type OrganizationAuditLog = typeof organizationAuditLogs.$inferSelect;
export type NewOrganizationAuditLog = typeof organizationAuditLogs.$inferInsert;
export type Team = typeof teams.$inferSelect;
export type NewTeam = typeof teams.$inferInsert;
export type TeamRole = typeof teamRoles.$inferSelect;
export type TeamMember = typeof teamMembers.$inferSelect;
export type TeamInvite = typeof teamInvites.$inferSelect;
export type TeamAuditLog = typeof teamAuditLogs.$inferSelect;
export type NewTeamAuditLog = typeof teamAuditLogs.$inferInsert;
export type Project = typeof projects.$inferSelect;
export type NewProject = typeof projects.$inferInsert;
export type ProjectRole = typeof projectRoles.$inferSelect;
export type ProjectMember = typeof projectMembers.$inferSelect;
export type ProjectAuditLog = typeof projectAuditLogs.$inferSelect;
export type NewProjectAuditLog = typeof projectAuditLogs.$inferInsert;
