import { relations } from 'drizzle-orm';
import { aiMessages, aiSessions } from './ai';
import { creditBalances, creditTransactions } from './credits';
import { paymentWebhookEvents, payments } from './payments';
import { plans } from './plans';
import { notifications } from './notifications';
import {
  organizationAuditLogs,
  organizationInvites,
  organizationMembers,
  organizationRoles,
  organizations,
  projectAuditLogs,
  projectMembers,
  projectRoles,
  projects,
  teamAuditLogs,
  teamInvites,
  teamMembers,
  teamRoles,
  teams,
} from './membership';
import { reports, supportTickets } from './support';
import { activityLogs, profileStars, profileViews, profiles, settings, users } from './users';

// Relations for Drizzle's relational query API (db.query.*). They add no SQL.

export const usersRelations = relations(users, ({ one, many }) => ({
  profile: one(profiles, { fields: [users.id], references: [profiles.userId] }),
  settings: one(settings, { fields: [users.id], references: [settings.userId] }),
  creditBalance: one(creditBalances, { fields: [users.id], references: [creditBalances.userId] }),
  creditTransactions: many(creditTransactions),
  payments: many(payments),
  notifications: many(notifications),
  activityLogs: many(activityLogs),
  organizationMemberships: many(organizationMembers),
  teamMemberships: many(teamMembers),
  projectMemberships: many(projectMembers),
  aiSessions: many(aiSessions),
  supportTickets: many(supportTickets),
  reports: many(reports),
}));

export const profilesRelations = relations(profiles, ({ one, many }) => ({
  user: one(users, { fields: [profiles.userId], references: [users.id] }),
  views: many(profileViews),
  stars: many(profileStars),
}));

export const profileViewsRelations = relations(profileViews, ({ one }) => ({
  profile: one(profiles, { fields: [profileViews.profileId], references: [profiles.id] }),
  viewer: one(users, { fields: [profileViews.viewerUserId], references: [users.id] }),
}));

export const profileStarsRelations = relations(profileStars, ({ one }) => ({
  profile: one(profiles, { fields: [profileStars.profileId], references: [profiles.id] }),
  user: one(users, { fields: [profileStars.userId], references: [users.id] }),
}));

export const settingsRelations = relations(settings, ({ one }) => ({
  user: one(users, { fields: [settings.userId], references: [users.id] }),
}));

export const activityLogsRelations = relations(activityLogs, ({ one }) => ({
  user: one(users, { fields: [activityLogs.userId], references: [users.id] }),
}));

export const notificationsRelations = relations(notifications, ({ one }) => ({
  user: one(users, { fields: [notifications.userId], references: [users.id] }),
}));

// ── plans, payments, credits ──

export const plansRelations = relations(plans, ({ many }) => ({
  payments: many(payments),
}));

export const paymentsRelations = relations(payments, ({ one, many }) => ({
  user: one(users, { fields: [payments.userId], references: [users.id] }),
  plan: one(plans, { fields: [payments.planId], references: [plans.planId] }),
  creditTransactions: many(creditTransactions),
  webhookEvents: many(paymentWebhookEvents),
}));

export const paymentWebhookEventsRelations = relations(paymentWebhookEvents, ({ one }) => ({
  payment: one(payments, { fields: [paymentWebhookEvents.paymentId], references: [payments.id] }),
}));

export const creditTransactionsRelations = relations(creditTransactions, ({ one }) => ({
  user: one(users, { fields: [creditTransactions.userId], references: [users.id] }),
  payment: one(payments, { fields: [creditTransactions.paymentId], references: [payments.id] }),
}));

export const creditBalancesRelations = relations(creditBalances, ({ one }) => ({
  user: one(users, { fields: [creditBalances.userId], references: [users.id] }),
}));

// ── organizations ──

export const organizationsRelations = relations(organizations, ({ many }) => ({
  roles: many(organizationRoles),
  members: many(organizationMembers),
  invites: many(organizationInvites),
  auditLogs: many(organizationAuditLogs),
  teams: many(teams),
}));

export const organizationRolesRelations = relations(organizationRoles, ({ one, many }) => ({
  organization: one(organizations, { fields: [organizationRoles.orgId], references: [organizations.id] }),
  members: many(organizationMembers),
}));

export const organizationMembersRelations = relations(organizationMembers, ({ one }) => ({
  organization: one(organizations, { fields: [organizationMembers.orgId], references: [organizations.id] }),
  user: one(users, { fields: [organizationMembers.userId], references: [users.id] }),
  role: one(organizationRoles, { fields: [organizationMembers.roleId], references: [organizationRoles.id] }),
}));

export const organizationInvitesRelations = relations(organizationInvites, ({ one }) => ({
  organization: one(organizations, { fields: [organizationInvites.orgId], references: [organizations.id] }),
  role: one(organizationRoles, { fields: [organizationInvites.roleId], references: [organizationRoles.id] }),
}));

export const organizationAuditLogsRelations = relations(organizationAuditLogs, ({ one }) => ({
  organization: one(organizations, { fields: [organizationAuditLogs.orgId], references: [organizations.id] }),
  actor: one(users, { fields: [organizationAuditLogs.actorId], references: [users.id] }),
}));

// ── teams ──

export const teamsRelations = relations(teams, ({ one, many }) => ({
  organization: one(organizations, { fields: [teams.orgId], references: [organizations.id] }),
  roles: many(teamRoles),
  members: many(teamMembers),
  invites: many(teamInvites),
  auditLogs: many(teamAuditLogs),
  projects: many(projects),
}));

export const teamRolesRelations = relations(teamRoles, ({ one, many }) => ({
  team: one(teams, { fields: [teamRoles.teamId], references: [teams.id] }),
  members: many(teamMembers),
}));

export const teamMembersRelations = relations(teamMembers, ({ one }) => ({
  team: one(teams, { fields: [teamMembers.teamId], references: [teams.id] }),
  user: one(users, { fields: [teamMembers.userId], references: [users.id] }),
  role: one(teamRoles, { fields: [teamMembers.roleId], references: [teamRoles.id] }),
}));

export const teamInvitesRelations = relations(teamInvites, ({ one }) => ({
  team: one(teams, { fields: [teamInvites.teamId], references: [teams.id] }),
  role: one(teamRoles, { fields: [teamInvites.roleId], references: [teamRoles.id] }),
}));

export const teamAuditLogsRelations = relations(teamAuditLogs, ({ one }) => ({
  team: one(teams, { fields: [teamAuditLogs.teamId], references: [teams.id] }),
  actor: one(users, { fields: [teamAuditLogs.actorId], references: [users.id] }),
}));

// ── projects ──

export const projectsRelations = relations(projects, ({ one, many }) => ({
  team: one(teams, { fields: [projects.teamId], references: [teams.id] }),
  roles: many(projectRoles),
  members: many(projectMembers),
  auditLogs: many(projectAuditLogs),
}));

export const projectRolesRelations = relations(projectRoles, ({ one, many }) => ({
  project: one(projects, { fields: [projectRoles.projectId], references: [projects.id] }),
  members: many(projectMembers),
}));

export const projectMembersRelations = relations(projectMembers, ({ one }) => ({
  project: one(projects, { fields: [projectMembers.projectId], references: [projects.id] }),
  user: one(users, { fields: [projectMembers.userId], references: [users.id] }),
  role: one(projectRoles, { fields: [projectMembers.roleId], references: [projectRoles.id] }),
}));

export const projectAuditLogsRelations = relations(projectAuditLogs, ({ one }) => ({
  project: one(projects, { fields: [projectAuditLogs.projectId], references: [projects.id] }),
  actor: one(users, { fields: [projectAuditLogs.actorId], references: [users.id] }),
}));

// ── support / ai ──

export const supportTicketsRelations = relations(supportTickets, ({ one }) => ({
  user: one(users, { fields: [supportTickets.userId], references: [users.id] }),
}));

export const reportsRelations = relations(reports, ({ one }) => ({
  reporter: one(users, { fields: [reports.reporterId], references: [users.id] }),
}));

export const aiSessionsRelations = relations(aiSessions, ({ one, many }) => ({
  user: one(users, { fields: [aiSessions.userId], references: [users.id] }),
  messages: many(aiMessages),
}));

export const aiMessagesRelations = relations(aiMessages, ({ one }) => ({
  session: one(aiSessions, { fields: [aiMessages.sessionId], references: [aiSessions.id] }),
}));
