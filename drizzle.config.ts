import { defineConfig } from 'drizzle-kit';

// drizzle-kit runs under Node; the worker's own types do not declare `process`.
declare const process: { env: Record<string, string | undefined> };

export default defineConfig({
  dialect: 'postgresql',
  schema: './src/db/schema/index.ts',
  out: './drizzle',
  dbCredentials: {
    url: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/fairarena',
  },
  strict: true,
  verbose: true,
});
