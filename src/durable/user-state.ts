import { DurableObject } from 'cloudflare:workers';
import type { Env } from '../config';

export interface StrictLimit {
  /** Maximum hits per window. */
  limit: number;
  /** Window length in milliseconds (fixed window starting at the first hit). */
  windowMs: number;
}

export interface StrictLimitResult {
  allowed: boolean;
  remaining: number;
  /** Milliseconds until the window resets (0 when allowed and the window is fresh). */
  retryAfterMs: number;
}

interface Counter {
  count: number;
  resetAt: number;
}

/**
 * One object per user (idFromName(userId)), SQLite-backed. It is the single writer of that user's
 * strict state, so limits hold under concurrent requests. All state changes use the synchronous KV
 * API: no await between read and write, so two calls can never interleave.
 * OTP state (issue: phone verification) builds on the same object.
 */
export class UserState extends DurableObject<Env> {
  /** Count one hit against `key`; refuses once `limit` is reached until the window resets. */
  hit(key: string, spec: StrictLimit, now: number = Date.now()): StrictLimitResult {
    const storageKey = `limit:${key}`;
    const current = this.ctx.storage.kv.get<Counter>(storageKey);
    const counter = current && current.resetAt > now ? current : { count: 0, resetAt: now + spec.windowMs };
    if (counter.count >= spec.limit) {
      return { allowed: false, remaining: 0, retryAfterMs: counter.resetAt - now };
    }
    counter.count += 1;
    this.ctx.storage.kv.put(storageKey, counter);
    this.scheduleCleanup(counter.resetAt);
    return { allowed: true, remaining: spec.limit - counter.count, retryAfterMs: 0 };
  }

  /** Current state of a limit without counting a hit. */
  peek(key: string, spec: StrictLimit, now: number = Date.now()): StrictLimitResult {
    const current = this.ctx.storage.kv.get<Counter>(`limit:${key}`);
    if (!current || current.resetAt <= now) return { allowed: true, remaining: spec.limit, retryAfterMs: 0 };
    const remaining = Math.max(0, spec.limit - current.count);
    return { allowed: remaining > 0, remaining, retryAfterMs: remaining > 0 ? 0 : current.resetAt - now };
  }

  /** Expired counters are removed by an alarm so idle objects hold no state. */
  private scheduleCleanup(at: number): void {
    void this.ctx.storage.getAlarm().then((existing) => {
      if (existing === null || existing > at) return this.ctx.storage.setAlarm(at);
    });
  }

  override alarm(): void {
    const now = Date.now();
    let next = Infinity;
    for (const [key, value] of this.ctx.storage.kv.list<Counter>({ prefix: 'limit:' })) {
      if (value.resetAt <= now) this.ctx.storage.kv.delete(key);
      else next = Math.min(next, value.resetAt);
    }
    if (next !== Infinity) void this.ctx.storage.setAlarm(next);
  }
}

/** The stub for a user's state object. */
export function userState(env: Env, userId: string): DurableObjectStub<UserState> {
  return env.USER_STATE.get(env.USER_STATE.idFromName(userId));
}
