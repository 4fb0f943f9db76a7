import { and, eq } from 'drizzle-orm';
import { webhookDeliveries } from '../db/schema';
import type { Actor, ServiceContext } from './context';

/** The providers that call us: each delivery runs as the actor `{ kind: 'webhook', source }`. */
export type WebhookSource = Extract<Actor, { kind: 'webhook' }>['source'];

export interface WebhookDelivery {
  source: WebhookSource;
  /** The provider's id for the delivery (svix-id, X-GitHub-Delivery, …): the same on every redelivery. */
  deliveryId: string;
}

/**
 * Claim a delivery in the transaction that applies it: true the first time, false for a replay. It must run
 * inside that transaction (`withTransaction`), so the claim and the effect commit together — a failure while
 * applying rolls the claim back and the provider's redelivery is applied, and a committed effect is never
 * applied twice. A concurrent duplicate waits on the primary key until the first commits, then finds it.
 */
export async function claimWebhookDelivery(ctx: ServiceContext, delivery: WebhookDelivery): Promise<boolean> {
  const tx = ctx.db.tx;
  if (!tx) throw new Error('claimWebhookDelivery must run inside the transaction that applies the delivery');
  const claimed = await tx
    .insert(webhookDeliveries)
    .values({ source: delivery.source, deliveryId: delivery.deliveryId })
    .onConflictDoNothing()
    .returning({ deliveryId: webhookDeliveries.deliveryId });
  return claimed.length > 0;
}

/**
 * Whether a delivery is claimed already: one plain read before the applying transaction, so a replay (providers
 * retry freely) costs no transaction, and a database that cannot be reached fails on a plain statement. Only a
 * shortcut: the claim inside the transaction is what decides.
 */
export async function webhookDeliveryClaimed(ctx: ServiceContext, delivery: WebhookDelivery): Promise<boolean> {
  const [row] = await ctx.db.write
    .select({ deliveryId: webhookDeliveries.deliveryId })
    .from(webhookDeliveries)
    .where(and(eq(webhookDeliveries.source, delivery.source), eq(webhookDeliveries.deliveryId, delivery.deliveryId)))
    .limit(1);
  return Boolean(row);
}
