import { and, asc, eq } from 'drizzle-orm';
import { plans } from '../../db/schema';
import { AppError } from '../../lib/errors';
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

/** Active plans, cheapest first. Plans change only by migration, so a replica read is fine. */
export async function listPlans(ctx: ServiceContext): Promise<PlanView[]> {
  const rows = await ctx.db.read.select(columns).from(plans).where(eq(plans.isActive, true)).orderBy(asc(plans.amount), asc(plans.planId));
  return rows.map(view);
}

export async function getPlan(ctx: ServiceContext, planId: string): Promise<PlanView> {
  const [row] = await ctx.db.read
    .select(columns)
    .from(plans)
    .where(and(eq(plans.planId, planId), eq(plans.isActive, true)))
    .limit(1);
  if (!row) throw new AppError('NOT_FOUND', 'Plan not found');
  return view(row);
}
