import { and, eq } from 'drizzle-orm';
import { webhookDeliveries } from '../db/schema';
import type { ServiceContext } from './context';

/** Whether a provider delivery was already processed (a replay). */
export async function webhookDeliverySeen(ctx: ServiceContext, source: string, deliveryId: string): Promise<boolean> {
  const [row] = await ctx.db.write
    .select({ id: webhookDeliveries.deliveryId })
    .from(webhookDeliveries)
    .where(and(eq(webhookDeliveries.source, source), eq(webhookDeliveries.deliveryId, deliveryId)))
    .limit(1);
  return Boolean(row);
}

/**
 * Record a delivery once its effect has committed. For handlers whose every branch is idempotent:
 * recording after success means a crash mid-way is simply processed again on the provider's retry.
 */
export async function recordWebhookDelivery(ctx: ServiceContext, source: string, deliveryId: string): Promise<void> {
  await ctx.db.write.insert(webhookDeliveries).values({ source, deliveryId }).onConflictDoNothing();
}
