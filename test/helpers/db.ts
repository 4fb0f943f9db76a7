import { Pool } from '@neondatabase/serverless';
import { env } from 'cloudflare:workers';
import { afterAll, beforeAll } from 'vitest';
import type { Env } from '../../src/config';
import { configureNeonDriver } from '../../src/db/client';

export interface TestDatabase {
  /** Worker env whose DATABASE_URL is this file's database and whose Redis keys are namespaced to it. */
  readonly env: Env;
  readonly name: string;
  readonly url: string;
  /** Raw SQL on this file's database. */
  sql<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<{ rows: T[] }>;
}

async function admin<T>(work: (pool: Pool) => Promise<T>): Promise<T> {
  configureNeonDriver(env.NEON_LOCAL_WS_PROXY as string);
  const pool = new Pool({ connectionString: env.TEST_PG_ADMIN_URL, max: 1 });
  try {
    return await work(pool);
  } finally {
    await pool.end();
  }
}

/** Clone the migrated + seeded template into a fresh database (retrying while another file clones it). */
export async function createDatabaseFromTemplate(): Promise<{ name: string; url: string }> {
  const name = `t_${crypto.randomUUID().replaceAll('-', '').slice(0, 20)}`;
  await admin(async (pool) => {
    for (let attempt = 0; ; attempt++) {
      try {
        await pool.query(`CREATE DATABASE ${name} TEMPLATE ${env.TEST_TEMPLATE_DB}`);
        return;
      } catch (err) {
        if (attempt >= 20 || !/being accessed by other users/.test(String(err))) throw err;
        await new Promise((r) => setTimeout(r, 100 + attempt * 50));
      }
    }
  });
  return { name, url: `${env.TEST_PG_BASE_URL}/${name}` };
}

export async function dropDatabase(name: string): Promise<void> {
  await admin((pool) => pool.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
}

/**
 * Gives the calling test file its own database (cloned from the migrated template) and Redis namespace,
 * so no test depends on another file's rows. Registers beforeAll/afterAll hooks.
 */
export function useTestDatabase(overrides: Record<string, unknown> = {}): TestDatabase {
  let state: { name: string; url: string; env: Env; pool: Pool } | undefined;
  const get = () => {
    if (!state) throw new Error('useTestDatabase(): database not ready (use it inside tests/hooks)');
    return state;
  };

  beforeAll(async () => {
    const { name, url } = await createDatabaseFromTemplate();
    const testEnv = { ...env, DATABASE_URL: url, CACHE_NAMESPACE: `t-${name}`, ...overrides } as unknown as Env;
    state = { name, url, env: testEnv, pool: new Pool({ connectionString: url, max: 2 }) };
  });

  afterAll(async () => {
    if (!state) return;
    await state.pool.end();
    await dropDatabase(state.name);
  });

  return {
    get env() {
      return get().env;
    },
    get name() {
      return get().name;
    },
    get url() {
      return get().url;
    },
    async sql<T>(text: string, params: unknown[] = []) {
      const result = await get().pool.query(text, params);
      return { rows: result.rows as T[] };
    },
  };
}
