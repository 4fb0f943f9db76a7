#!/usr/bin/env node
// npm run dev:token -- [userId] [--ttl seconds]
// Prints a Clerk-style session JWT for `npm run dev`, signed with the local key that scripts/dev.mjs
// generated (.data/clerk-dev-key.json; its public half is CLERK_JWT_KEY in .dev.vars).
//   curl -H "Authorization: Bearer $(npm run -s dev:token)" http://127.0.0.1:8787/…
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { importJWK, SignJWT } from 'jose';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const CLERK_DEV_KEY_FILE = path.join(root, '.data', 'clerk-dev-key.json');
export const CLERK_DEV_ISSUER = 'https://clerk.local.test';
export const CLERK_DEV_KID = 'ins_local';

/** Mint a session token for `userId` with the stored dev key. */
export async function mintDevToken(userId = 'user_dev', { ttl = 3600, azp = 'http://localhost:5173' } = {}) {
  let stored;
  try { stored = JSON.parse(readFileSync(CLERK_DEV_KEY_FILE, 'utf8')); } catch {
    throw new Error(`${path.relative(process.cwd(), CLERK_DEV_KEY_FILE)} not found: run \`npm run dev\` once (it creates .dev.vars and the key), `
      + 'or delete .dev.vars so it is regenerated together with a new key.');
  }
  const key = await importJWK(stored.privateJwk, 'RS256');
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ sid: `sess_${userId}`, azp, v: 2, sts: 'active' })
    .setProtectedHeader({ alg: 'RS256', kid: stored.kid ?? CLERK_DEV_KID, typ: 'JWT' })
    .setSubject(userId).setIssuer(stored.issuer ?? CLERK_DEV_ISSUER)
    .setIssuedAt(now - 5).setNotBefore(now - 5).setExpirationTime(now + ttl)
    .sign(key);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const i = args.indexOf('--ttl');
  const ttl = i >= 0 ? Number(args.splice(i, 2)[1]) : 3600;
  const userId = args[0] ?? 'user_dev';
  if (!/^[\w-]+$/.test(userId) || !(ttl > 0)) {
    console.error('usage: npm run dev:token -- [userId] [--ttl seconds]');
    process.exit(2);
  }
  try {
    // Warn (stderr) if .dev.vars carries a different public key: the worker would reject the token.
    const vars = readFileSync(path.join(root, '.dev.vars'), 'utf8');
    const stored = JSON.parse(readFileSync(CLERK_DEV_KEY_FILE, 'utf8'));
    const m = /^CLERK_JWT_KEY="(.*)"$/m.exec(vars);
    if (m && stored.publicPem && m[1].replaceAll('\\n', '\n').trim() !== stored.publicPem.trim()) {
      console.error('warning: CLERK_JWT_KEY in .dev.vars does not match .data/clerk-dev-key.json; the worker will reject this token.');
    }
  } catch { /* checked by mintDevToken */ }
  try {
    console.log(await mintDevToken(userId, { ttl }));
  } catch (e) {
    console.error(`dev:token: ${e.message}`);
    process.exit(1);
  }
}
