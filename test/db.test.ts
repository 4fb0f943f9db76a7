import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type Env } from '../src/config';
import { Db } from '../src/db/client';
import { plans } from '../src/db/schema';
import { createDatabaseFromTemplate, dropDatabase, useTestDatabase } from './helpers/db';

const primary = useTestDatabase();
let replica: { name: string; url: string };

beforeAll(async () => {
  replica = await createDatabaseFromTemplate();
});
afterAll(async () => {
  if (replica) await dropDatabase(replica.name);
});

// A select (not execute: withReplicas always sends execute to the primary) that names the database serving it.
const currentDatabase = async (d: Db['read']) =>
  (await d.select({ name: sql<string>`current_database()` }).from(plans).limit(1))[0]!.name;

describe('Db (request-scoped, withReplicas)', () => {
  it('reads from a replica until the request writes, then pins reads to the primary', async () => {
    const env = { ...primary.env, DATABASE_REPLICA_URLS: replica.url } as Env;
    const db = new Db(loadConfig(env));
    try {
      expect(await currentDatabase(db.read)).toBe(replica.name);
      expect(await currentDatabase(db.write)).toBe(primary.name);
      // read-your-writes: from now on this request reads the primary
      expect(await currentDatabase(db.read)).toBe(primary.name);
    } finally {
      await db.close();
    }
  });

  it('falls back to the primary when no replica is configured', async () => {
    const db = new Db(loadConfig(primary.env));
    try {
      expect(await currentDatabase(db.read)).toBe(primary.name);
    } finally {
      await db.close();
    }
  });

  it('opens no connection until used, and closes what it opened', async () => {
    const db = new Db(loadConfig(primary.env));
    expect(db.opened).toBe(false);
    await currentDatabase(db.read);
    expect(db.opened).toBe(true);
    await db.close();
    expect(db.opened).toBe(false);
  });

  it('a transaction that throws leaves nothing behind', async () => {
    const db = new Db(loadConfig(primary.env));
    try {
      await db.write.execute(sql`create table tx_probe (id int primary key)`);
      await expect(
        db.write.transaction(async (tx) => {
          await tx.execute(sql`insert into tx_probe values (1)`);
          throw new Error('abort');
        }),
      ).rejects.toThrow('abort');
      const { rows } = await primary.sql('select count(*)::int as n from tx_probe');
      expect(rows[0]).toEqual({ n: 0 });
    } finally {
      await db.close();
    }
  });
});
