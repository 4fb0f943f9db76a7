import { and, asc, eq } from 'drizzle-orm';
import { prepared } from '../../db/prepared';
import { plans } from '../../db/schema';
import { AppError } from '../../lib/errors';
import { IsolateCache } from '../../lib/isolate-cache';
import type { ServiceContext } from '../context';

export interface PlanView {
  planId: string;
  name: string;
  /** Minor units (paise). */
  amount: number;
  currency: string;
  credits: number;
  description: string | null;
  features: string[];
  /** False for custom-pricing plans (amount 0): contact sales instead of checkout. */
  purchasable: boolean;
}

const columns = {
  planId: plans.planId,
  name: plans.name,
  amount: plans.amount,
  currency: plans.currency,
  credits: plans.credits,
  description: plans.description,
  features: plans.features,
};

const view = (p: Omit<PlanView, 'purchasable'>): PlanView => ({ ...p, purchasable: p.amount > 0 });

const activePlans = new IsolateCache<PlanView[]>(16);

/**
 * Active plans, cheapest first, for the public catalogue. Plans change only by migration, so a replica read is
 * fine, and each isolate keeps the list for PLANS_CACHE_SECONDS (0 = always read the database).
 */
export async function listPlans(ctx: ServiceContext): Promise<PlanView[]> {
  return activePlans.getOrLoad(ctx.config.DATABASE_URL, ctx.config.PLANS_CACHE_SECONDS * 1000, async () => {
    const db = ctx.db.read;
    const active = prepared(db, 'plans.active', () =>
      db.select(columns).from(plans).where(eq(plans.isActive, true)).orderBy(asc(plans.amount), asc(plans.planId)).prepare(''));
    return (await active.execute()).map(view);
  });
}

/** One plan of the public catalogue (served from the same cached list). */
export async function getPlan(ctx: ServiceContext, planId: string): Promise<PlanView> {
  const plan = (await listPlans(ctx)).find((p) => p.planId === planId);
  if (!plan) throw new AppError('NOT_FOUND', 'Plan not found');
  return plan;
}

/**
 * The plan as the database has it now: checkout prices an order from this, never from a cached copy nor from a
 * replica that may not have seen a price change or a withdrawal yet.
 */
export async function planForCheckout(ctx: ServiceContext, planId: string): Promise<PlanView> {
  const [row] = await ctx.db.write
    .select(columns)
    .from(plans)
    .where(and(eq(plans.planId, planId), eq(plans.isActive, true)))
    .limit(1);
  if (!row) throw new AppError('NOT_FOUND', 'Plan not found');
  return view(row);
}
