import { describe, expect, it } from 'vitest';
import { logActivity } from '../src/services/activity';
import { openServiceContext, withSavepoint, withTransaction, type ServiceContext } from '../src/services/context';
import { useTestDatabase } from './helpers/db';
import { signUp } from './helpers/users';

const db = useTestDatabase();

/** A context on this file's database, as a door builds it. */
async function withCtx<T>(work: (ctx: ServiceContext) => Promise<T>): Promise<T> {
  const { ctx, finish } = openServiceContext(db.env, { actor: { kind: 'system', job: 'test' }, requestId: 'test' });
  try {
    return await work(ctx);
  } finally {
    await finish();
  }
}

async function actions(userId: string): Promise<string[]> {
  const { rows } = await db.sql<{ action: string }>('select action from activity_logs where user_id = $1 order by created_at, action', [userId]);
  return rows.map((r) => r.action);
}

const boom = new Error('boom');

describe('withTransaction', () => {
  it('joins the enclosing transaction: one commit, or one rollback for everything', async () => {
    const u = await signUp(db);
    await withCtx((ctx) =>
      withTransaction(ctx, async (_tx, outer) => {
        await logActivity(outer, { userId: u.id, action: 'test.outer' });
        await withTransaction(outer, async (tx, inner) => {
          expect(inner.db.tx).toBe(tx);
          expect(tx).toBe(outer.db.tx); // joined, not a second session
          await logActivity(inner, { userId: u.id, action: 'test.inner' });
        });
      }),
    );
    expect(await actions(u.id)).toEqual(expect.arrayContaining(['test.inner', 'test.outer']));

    const v = await signUp(db);
    const ran: string[] = [];
    await expect(
      withCtx((ctx) =>
        withTransaction(ctx, async (_tx, outer) => {
          outer.afterCommit(async () => void ran.push('outer'));
          await logActivity(outer, { userId: v.id, action: 'test.outer' });
          await withTransaction(outer, async (_tx2, inner) => {
            await logActivity(inner, { userId: v.id, action: 'test.inner' });
            throw boom;
          });
        }),
      ),
    ).rejects.toBe(boom);
    expect(await actions(v.id)).not.toContain('test.outer');
    expect(await actions(v.id)).not.toContain('test.inner');
    expect(ran).toEqual([]); // after-commit work never runs after a rollback
  });

  it('runs after-commit work once the outermost transaction committed', async () => {
    const u = await signUp(db);
    const seen: string[][] = [];
    await withCtx((ctx) =>
      withTransaction(ctx, async (_tx, outer) => {
        await withTransaction(outer, async (_tx2, inner) => {
          await logActivity(inner, { userId: u.id, action: 'test.inner' });
          inner.afterCommit(async () => void seen.push(await actions(u.id)));
        });
        expect(seen).toEqual([]); // not yet: the enclosing transaction is still open
      }),
    );
    expect(seen).toEqual([expect.arrayContaining(['test.inner'])]);
  });
});

describe('withSavepoint', () => {
  it('rolls back only its own writes and after-commit work; the enclosing transaction goes on', async () => {
    const u = await signUp(db);
    const ran: string[] = [];
    await withCtx((ctx) =>
      withTransaction(ctx, async (_tx, outer) => {
        await logActivity(outer, { userId: u.id, action: 'test.before' });
        await expect(
          withSavepoint(outer, async (_sp, inner) => {
            await logActivity(inner, { userId: u.id, action: 'test.failed' });
            inner.afterCommit(async () => void ran.push('failed'));
            throw boom;
          }),
        ).rejects.toBe(boom);
        await withSavepoint(outer, async (_sp, inner) => {
          await logActivity(inner, { userId: u.id, action: 'test.released' });
          inner.afterCommit(async () => void ran.push('released'));
        });
        await logActivity(outer, { userId: u.id, action: 'test.after' });
      }),
    );
    const logged = await actions(u.id);
    expect(logged).toEqual(expect.arrayContaining(['test.before', 'test.released', 'test.after']));
    expect(logged).not.toContain('test.failed');
    expect(ran).toEqual(['released']);
  });

  it('outside a transaction it opens one', async () => {
    const u = await signUp(db);
    await expect(
      withCtx((ctx) =>
        withSavepoint(ctx, async (tx, inner) => {
          expect(inner.db.tx).toBe(tx);
          await logActivity(inner, { userId: u.id, action: 'test.alone' });
          throw boom;
        }),
      ),
    ).rejects.toBe(boom);
    expect(await actions(u.id)).not.toContain('test.alone');
  });
});
