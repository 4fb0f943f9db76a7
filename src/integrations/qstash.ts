import { Client, Receiver } from '@upstash/qstash';
import type { Config } from '../config';
import { withTimeout } from '../lib/http';
import { traceHeaders } from '../lib/trace';

/**
 * QStash: delayed deliveries to signed endpoints of ours (`/webhooks/v1/qstash/*`).
 * Destination URLs are built from PUBLIC_BASE_URL, and the receiver verifies against that same URL,
 * so what was signed is exactly what we check, whatever host the request arrived on.
 */

const PUBLISH_TIMEOUT_MS = 5000;

export const qstashPaths = {
  paymentExpiry: '/webhooks/v1/qstash/payment-expiry',
} as const;

export const qstashUrl = (config: Config, path: string) => `${config.PUBLIC_BASE_URL.replace(/\/+$/, '')}${path}`;

export class QstashPublishError extends Error {
  constructor(
    message: string,
    /** HTTP status from QStash, or 0 for a network error / timeout. */
    readonly status: number,
  ) {
    super(message);
    this.name = 'QstashPublishError';
  }
  /** 5xx, 429 and network errors may succeed later; 4xx (bad destination, bad token) will not. */
  get retryable(): boolean {
    return this.status === 0 || this.status === 429 || this.status >= 500;
  }
}

export interface PublishInput {
  path: string;
  body: Record<string, unknown>;
  /** Unix seconds before which QStash must not deliver. */
  notBefore?: number;
  /** QStash drops a second message with the same id (within its dedup window). */
  deduplicationId?: string;
  retries?: number;
}

/** Publish a JSON message; null when QStash is not configured (no token). */
export async function publishToQstash(config: Config, input: PublishInput): Promise<{ messageId: string } | null> {
  if (!config.QSTASH_TOKEN) return null;
  // The SDK forwards global headers (as Upstash-Forward-*): the callback request carries the traceparent
  // and continues the publisher's trace.
  const client = new Client({ baseUrl: config.QSTASH_URL, token: config.QSTASH_TOKEN, retry: false, enableTelemetry: false, devMode: false, headers: traceHeaders() } as ConstructorParameters<typeof Client>[0]);
  try {
    const res = (await withTimeout(
      client.publishJSON({
        url: qstashUrl(config, input.path),
        body: input.body,
        notBefore: input.notBefore,
        deduplicationId: input.deduplicationId,
        retries: input.retries ?? 3,
      }),
      PUBLISH_TIMEOUT_MS,
      'QStash publish',
    )) as { messageId: string };
    return { messageId: res.messageId };
  } catch (err) {
    const status = typeof (err as { status?: unknown }).status === 'number' ? (err as { status: number }).status : 0;
    throw new QstashPublishError(`QStash publish failed: ${err instanceof Error ? err.message : String(err)}`, status);
  }
}

export type QstashVerification = 'valid' | 'invalid' | 'unconfigured';

/** Check an `Upstash-Signature` over the raw body and our own URL for `path` (current, then next key). */
export async function verifyQstashSignature(config: Config, input: { signature: string | undefined; body: string; path: string }): Promise<QstashVerification> {
  const current = config.QSTASH_CURRENT_SIGNING_KEY;
  if (!current) return 'unconfigured';
  if (!input.signature) return 'invalid';
  const receiver = new Receiver({ currentSigningKey: current, nextSigningKey: config.QSTASH_NEXT_SIGNING_KEY ?? current, devMode: false } as ConstructorParameters<typeof Receiver>[0]);
  try {
    await receiver.verify({ signature: input.signature, body: input.body, url: qstashUrl(config, input.path), clockTolerance: 30 });
    return 'valid';
  } catch {
    return 'invalid';
  }
}
