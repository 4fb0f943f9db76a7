#!/usr/bin/env node
// Usage: DATABASE_URL=postgres://user@host:port/db npx node scripts/migrate.mjs
// Applies pending migrations from drizzle/ and prints one summary line. Exit code 1 on failure.
import { migrate } from './lib/migrate.mjs';

function redact(url) {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return `${u.host}${u.pathname}`;
  } catch {
    return '(unparseable DATABASE_URL)';
  }
}

const url = process.env.DATABASE_URL;
if (!url) {
  console.error('migrate: DATABASE_URL is not set');
  process.exit(1);
}

const started = Date.now();
try {
  const { applied, total } = await migrate(url);
  const ms = Date.now() - started;
  console.log(
    applied > 0
      ? `migrate: applied ${applied} migration(s), ${total} total, on ${redact(url)} in ${ms} ms`
      : `migrate: up to date (${total} migrations) on ${redact(url)} in ${ms} ms`,
  );
} catch (err) {
  const e = /** @type {any} */ (err);
  const cause = e?.cause ?? e;
  const detail = [cause?.code && `SQLSTATE ${cause.code}`, cause?.message ?? String(cause)].filter(Boolean).join(' ');
  console.error(`migrate: FAILED on ${redact(url)}: ${e?.message ?? e}${cause !== e ? ` (${detail})` : ''}`);
  process.exitCode = 1;
}
