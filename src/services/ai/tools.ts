import { SchemaType, type FunctionCall, type FunctionDeclaration, type Tool } from '@google/generative-ai';
import { desc, eq } from 'drizzle-orm';
import { z } from 'zod';
import { activityLogs } from '../../db/schema';
import { AppError } from '../../lib/errors';
import { describeError, log } from '../../lib/log';
import type { ServiceContext } from '../context';
import { getBalance, listCreditHistory } from '../credits';
import { userMemberships } from '../membership/queries';
import { listNotifications } from '../notifications';
import { listPlans } from '../plans';
import { getOwnProfile } from '../profile';
import { profileUpdateSchema, type ProfileUpdate } from '../profile/schema';
import { PENDING_ACTION_TTL_MS, proposeProfileChange, type PendingAction } from './actions';
import { HELP_TOPIC_NAMES, HELP_TOPICS } from './prompt';
import type { RequestMetadata } from './schema';

/**
 * The assistant's tools. Every tool runs as the caller (the session's owner): it receives the caller's
 * ServiceContext and never takes a user id from the model. Declarations are built once at module load
 * and frozen; a request never adds to them (a per-request tool could act for another user).
 *
 * Results go back to the model as `{ data }` or `{ error }` — data, never instructions (the system
 * instruction says so). Arguments are validated with zod; a bad argument, an unknown tool or a failing
 * tool is an `{ error }` result for the model to explain, not an exception.
 */

/** The assistant turn a tool runs in. */
export interface ToolTurn {
  userId: string;
  sessionId: string;
  metadata: RequestMetadata | undefined;
  /** The turn's pending action: write tools add their proposed change to it (see ./actions.ts). */
  action: PendingAction | null;
}

/** What a tool receives: the caller's context and the turn. */
interface ToolContext extends ToolTurn {
  ctx: ServiceContext;
}

interface ToolDef<A extends z.ZodType> {
  declaration: FunctionDeclaration;
  args: A;
  run(tc: ToolContext, args: z.infer<A>): Promise<unknown>;
}

const tool = <A extends z.ZodType>(def: ToolDef<A>): ToolDef<A> => def;

const noArgs = z.object({}).optional().transform(() => ({}));
const limitArg = z.object({ limit: z.number().int().min(1).max(50).optional() }).optional().transform((a) => ({ limit: a?.limit ?? 10 }));
const LIMIT_PARAM = {
  type: SchemaType.OBJECT,
  properties: { limit: { type: SchemaType.INTEGER, description: 'How many (1–50, default 10)' } },
} as const;
/** Membership lists are small; a cap keeps a pathological account from flooding the prompt. */
const MEMBERSHIP_CAP = 100;

const clip = (value: string | null | undefined, max: number): string | null => {
  if (value === null || value === undefined) return null;
  return value.length > max ? `${value.slice(0, max)}…` : value;
};
const iso = (d: Date) => d.toISOString();

/** Fields the write tool may change, and how the model's string becomes a PUT /profile value. */
export const WRITABLE_PROFILE_FIELDS = [
  'bio',
  'jobTitle',
  'company',
  'location',
  'skills',
  'interests',
  'githubUsername',
  'twitterHandle',
  'portfolioUrl',
  'linkedinProfile',
] as const;
type WritableField = (typeof WRITABLE_PROFILE_FIELDS)[number];
const LIST_FIELDS: ReadonlySet<WritableField> = new Set(['skills', 'interests']);

const updateArgs = z.strictObject({
  field: z.string().max(64),
  value: z.union([z.string().max(5000), z.array(z.string().max(200)).max(100)]),
});

function profilePatch(field: string, value: string | string[]): ProfileUpdate {
  if (!(WRITABLE_PROFILE_FIELDS as readonly string[]).includes(field)) {
    throw new AppError('VALIDATION_ERROR', `The field "${clip(field, 64)}" cannot be changed here. Allowed: ${WRITABLE_PROFILE_FIELDS.join(', ')}.`);
  }
  const f = field as WritableField;
  let v: string | string[];
  if (LIST_FIELDS.has(f)) {
    v = (Array.isArray(value) ? value : value.split(',')).map((s) => s.trim()).filter(Boolean);
  } else {
    if (Array.isArray(value)) throw new AppError('VALIDATION_ERROR', `${f} takes a single text value`);
    v = value;
  }
  // The exact validation of PUT /profile: same schema, same rules, no bypass.
  const parsed = profileUpdateSchema.safeParse({ [f]: v });
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || f}: ${i.message}`);
    throw new AppError('VALIDATION_ERROR', `Invalid value for ${f}: ${issues.join('; ')}`);
  }
  return parsed.data;
}

const TOOLS = {
  get_user_profile: tool({
    declaration: { name: 'get_user_profile', description: "The signed-in user's profile (name, bio, work, skills, links, visibility)." },
    args: noArgs,
    async run({ ctx }) {
      const p = await getOwnProfile(ctx);
      // Contact details (email, phone), date of birth and gender are not sent to the model.
      return {
        userId: p.userId,
        username: p.username,
        firstName: p.firstName,
        lastName: p.lastName,
        bio: p.bio,
        jobTitle: p.jobTitle,
        company: p.company,
        location: p.location,
        yearsOfExperience: p.yearsOfExperience,
        skills: p.skills,
        interests: p.interests,
        languages: p.languages,
        education: p.education,
        experiences: p.experiences,
        certifications: p.certifications,
        awards: p.awards,
        githubUsername: p.githubUsername,
        linkedinProfile: p.linkedinProfile,
        twitterHandle: p.twitterHandle,
        portfolioUrl: p.portfolioUrl,
        isPublic: p.isPublic,
        phoneVerified: p.phoneVerified,
        memberSince: p.createdAt,
      };
    },
  }),

  get_user_organizations: tool({
    declaration: { name: 'get_user_organizations', description: 'Organizations the signed-in user belongs to, with their role.' },
    args: noArgs,
    async run({ ctx, userId }) {
      const rows = await userMemberships(ctx, { userId, scope: 'organization', live: true, limit: MEMBERSHIP_CAP, counts: true });
      return {
        count: rows.length,
        organizations: rows.map((r) => ({
          name: r.name,
          slug: r.slug,
          visibility: r.visibility,
          description: clip(r.description, 300),
          website: r.website,
          role: r.role,
          joinedAt: iso(r.joinedAt),
          memberCount: r.memberCount,
          teamCount: r.childCount,
        })),
      };
    },
  }),

  get_user_teams: tool({
    declaration: { name: 'get_user_teams', description: 'Teams the signed-in user belongs to, with organization and role.' },
    args: noArgs,
    async run({ ctx, userId }) {
      const rows = await userMemberships(ctx, { userId, scope: 'team', live: true, limit: MEMBERSHIP_CAP, counts: true });
      const teams = rows.map((r) => ({
        name: r.name,
        slug: r.slug,
        visibility: r.visibility,
        organization: r.organization.name,
        organizationSlug: r.organization.slug,
        description: clip(r.description, 300),
        role: r.role,
        joinedAt: iso(r.joinedAt),
        memberCount: r.memberCount,
        projectCount: r.childCount,
      }));
      return { count: rows.length, teams };
    },
  }),

  get_user_projects: tool({
    declaration: { name: 'get_user_projects', description: 'Projects the signed-in user belongs to, with team, organization and role.' },
    args: noArgs,
    async run({ ctx, userId }) {
      const rows = await userMemberships(ctx, { userId, scope: 'project', live: true, limit: MEMBERSHIP_CAP });
      const projects = rows.map((r) => ({
        name: r.name,
        slug: r.slug,
        visibility: r.visibility,
        team: r.team,
        organization: r.organization.name,
        description: clip(r.description, 300),
        githubRepo: r.githubRepo,
        role: r.role,
        joinedAt: iso(r.joinedAt),
      }));
      return { count: rows.length, projects };
    },
  }),

  get_user_notifications: tool({
    declaration: {
      name: 'get_user_notifications',
      description: "The signed-in user's most recent notifications and unread count.",
      parameters: LIMIT_PARAM,
    },
    args: limitArg,
    async run({ ctx }, { limit }) {
      const page = await listNotifications(ctx, { limit, offset: 0 });
      return {
        unreadCount: page.unreadCount,
        total: page.total,
        notifications: page.items.map((n) => ({
          status: n.read ? 'read' : 'unread',
          type: n.type,
          title: clip(n.title, 200),
          message: clip(n.message, 500),
          actionUrl: n.actionUrl,
          actionLabel: n.actionLabel,
          createdAt: n.createdAt,
        })),
      };
    },
  }),

  get_user_activity_logs: tool({
    declaration: {
      name: 'get_user_activity_logs',
      description: "The signed-in user's most recent account activity (action, level, time).",
      parameters: LIMIT_PARAM,
    },
    args: limitArg,
    async run({ ctx, userId }, { limit }) {
      const rows = await ctx.db.read
        .select({ action: activityLogs.action, level: activityLogs.level, createdAt: activityLogs.createdAt })
        .from(activityLogs)
        .where(eq(activityLogs.userId, userId))
        .orderBy(desc(activityLogs.createdAt), desc(activityLogs.id))
        .limit(limit);
      return { activityLogs: rows.map((r) => ({ ...r, createdAt: iso(r.createdAt) })) };
    },
  }),

  get_user_credits: tool({
    declaration: { name: 'get_user_credits', description: "The signed-in user's credit balance and the 10 most recent credit transactions." },
    args: noArgs,
    async run({ ctx }) {
      const [{ balance }, history] = await Promise.all([getBalance(ctx), listCreditHistory(ctx, { limit: 10, offset: 0 })]);
      return {
        balance,
        recentTransactions: history.items.map((t) => ({
          type: t.type,
          amount: t.amount,
          balanceAfter: t.balanceAfter,
          description: clip(t.description, 200),
          plan: t.payment?.planName ?? null,
          createdAt: t.createdAt,
        })),
      };
    },
  }),

  get_available_plans: tool({
    declaration: { name: 'get_available_plans', description: 'Credit plans that can be bought (price in INR, credits granted).' },
    args: noArgs,
    async run({ ctx }) {
      const plans = await listPlans(ctx);
      return {
        plans: plans.map((p) => ({
          planId: p.planId,
          name: p.name,
          price: p.purchasable ? `${p.currency === 'INR' ? '₹' : `${p.currency} `}${(p.amount / 100).toFixed(2)}` : 'custom pricing (contact sales)',
          credits: p.credits,
          description: p.description,
          features: p.features,
          purchasable: p.purchasable,
        })),
      };
    },
  }),

  get_current_page_context: tool({
    declaration: { name: 'get_current_page_context', description: 'The page the user is looking at, as reported by their browser (route, title, visible text).' },
    args: noArgs,
    async run({ metadata }) {
      const page = metadata?.pageContext;
      if (!page) return { available: false };
      return {
        available: true,
        route: clip(page.route, 500),
        title: clip(page.title, 200),
        content: clip(page.content, 2000),
        timestamp: page.timestamp ?? null,
      };
    },
  }),

  get_client_debug_info: tool({
    declaration: { name: 'get_client_debug_info', description: "Recent console messages and errors from the user's browser, to help troubleshoot a problem." },
    args: noArgs,
    async run({ metadata }) {
      const debug = metadata?.debugInfo;
      if (!debug) return { available: false };
      const logs = (debug.consoleLogs ?? []).slice(-10).map((l) =>
        typeof l === 'string' ? { message: clip(l, 200) } : { level: clip(l.level, 20), message: clip(l.message, 200), timestamp: l.timestamp ?? null },
      );
      const errors = (debug.errors ?? []).slice(-5).map((e) =>
        typeof e === 'string' ? { message: clip(e, 300) } : { message: clip(e.message, 300), stack: clip(e.stack, 500), timestamp: e.timestamp ?? null },
      );
      return { available: true, consoleLogs: logs, errors, userAgent: clip(debug.userAgent, 300), timestamp: debug.timestamp ?? null };
    },
  }),

  get_platform_help: tool({
    declaration: {
      name: 'get_platform_help',
      description: 'How-to help about a FairArena feature.',
      parameters: {
        type: SchemaType.OBJECT,
        properties: { topic: { type: SchemaType.STRING, format: 'enum', enum: [...HELP_TOPIC_NAMES], description: 'The feature to explain' } },
        required: ['topic'],
      },
    },
    args: z.strictObject({ topic: z.enum(HELP_TOPIC_NAMES) }),
    async run(_tc, { topic }) {
      return { topic, help: HELP_TOPICS[topic] };
    },
  }),

  update_user_profile: tool({
    declaration: {
      name: 'update_user_profile',
      description:
        "Propose a change to one field of the signed-in user's profile, only when the user asked for it. Nothing changes until the user confirms the proposal in the app. " +
        'skills and interests take a comma-separated list that replaces the current one; an empty value clears a text field.',
      parameters: {
        type: SchemaType.OBJECT,
        properties: {
          field: { type: SchemaType.STRING, format: 'enum', enum: [...WRITABLE_PROFILE_FIELDS], description: 'The profile field to change' },
          value: { type: SchemaType.STRING, description: 'The new value' },
        },
        required: ['field', 'value'],
      },
    },
    args: updateArgs,
    async run(tc, { field, value }) {
      const patch = profilePatch(field, value);
      const key = Object.keys(patch)[0] as WritableField;
      // Never written here: the change waits for the user's confirmation (POST /ai/actions/:actionId/confirm).
      const action = await proposeProfileChange(tc.ctx, { turn: tc, patch });
      return {
        status: 'pending_confirmation',
        proposed: { field: key, value: patch[key] },
        actionId: action.actionId,
        expiresAt: action.expiresAt,
        note: `Nothing has changed yet. Tell the user exactly what will change and that they must confirm it in the app within ${PENDING_ACTION_TTL_MS / 60_000} minutes.`,
      };
    },
  }),
} satisfies Record<string, ToolDef<z.ZodType>>;

export type ToolName = keyof typeof TOOLS;
export const TOOL_NAMES = Object.freeze(Object.keys(TOOLS) as ToolName[]);

/** The one tool list handed to the model, built once. */
export const GEMINI_TOOLS: readonly Tool[] = Object.freeze([
  Object.freeze({ functionDeclarations: Object.freeze(Object.values(TOOLS).map((t) => Object.freeze(t.declaration))) as FunctionDeclaration[] }),
]);

export interface ToolOutcome {
  name: string;
  ok: boolean;
  /** What the model receives as the functionResponse `response`. */
  response: { data: unknown } | { error: string };
  /** Set by a write tool: the change waiting for the user's confirmation. */
  pendingAction?: PendingAction;
}

/** Tools that propose a change (for confirmation) instead of reading. */
const WRITE_TOOLS: ReadonlySet<string> = new Set<ToolName>(['update_user_profile']);

export const isToolName = (name: string): name is ToolName => Object.prototype.hasOwnProperty.call(TOOLS, name);

/** Run one function call from the model as the caller. Never throws. A write tool records its change on `turn.action`. */
export async function executeTool(ctx: ServiceContext, input: { turn: ToolTurn; call: FunctionCall }): Promise<ToolOutcome> {
  const { turn, call } = input;
  const name = String(call.name ?? '');
  if (!isToolName(name)) return { name, ok: false, response: { error: `Unknown tool "${clip(name, 64)}"` } };
  const def = TOOLS[name] as ToolDef<z.ZodType>;
  const args = def.args.safeParse(call.args ?? {});
  if (!args.success) {
    const issues = args.error.issues.map((i) => `${i.path.join('.') || 'arguments'}: ${i.message}`).join('; ');
    return { name, ok: false, response: { error: `Invalid arguments: ${issues}` } };
  }
  const tc: ToolContext = { ...turn, ctx };
  try {
    const data = await def.run(tc, args.data);
    turn.action = tc.action;
    return { name, ok: true, response: { data }, ...(WRITE_TOOLS.has(name) && tc.action ? { pendingAction: tc.action } : {}) };
  } catch (err) {
    if (err instanceof AppError && err.status < 500) return { name, ok: false, response: { error: err.message } };
    log('warn', 'ai.tool_failed', { requestId: tc.ctx.requestId, tool: name, error: describeError(err) });
    return { name, ok: false, response: { error: 'The tool failed; try again later' } };
  }
}
