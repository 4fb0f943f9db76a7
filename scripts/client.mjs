#!/usr/bin/env node
// npm run client [-- --types-only]
// Regenerates the typed client (clients/typescript) from the routes:
//   1. clients/typescript/openapi.json — the test that compares it with the worker's /openapi.json runs in update
//      mode (`npm test -- test/openapi.test.ts --update`, on the throw-away test stack);
//   2. clients/typescript/src/schema.ts — openapi-typescript from that snapshot. The client folder has its own
//      dev dependencies (the generator needs the TypeScript 5 compiler API); they are installed when missing.
// --types-only skips step 1: CI regenerates the types from the committed snapshot and diffs them.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const client = path.join(root, 'clients', 'typescript');
const say = (m) => console.log(`[client] ${m}`);

function run(command, args, options = {}) {
  const r = spawnSync(command, args, { cwd: root, stdio: 'inherit', ...options });
  if (r.status !== 0) {
    console.error(`[client] ${command} ${args.join(' ')} failed (${r.status ?? r.signal})`);
    process.exit(r.status || 1);
  }
}

if (!process.argv.includes('--types-only')) {
  say('refreshing openapi.json from the routes (test/openapi.test.ts --update)');
  run(process.execPath, [path.join(root, 'scripts', 'test.mjs'), 'test/openapi.test.ts', '--update']);
}
if (!existsSync(path.join(client, 'node_modules', '.bin', 'openapi-typescript'))) {
  say('installing the generator (clients/typescript: npm ci)');
  run('npm', ['ci', '--no-audit', '--no-fund'], { cwd: client });
}
say('generating src/schema.ts from openapi.json');
run('npm', ['run', '-s', 'generate'], { cwd: client, env: { ...process.env, NO_COLOR: '1' } });
say('done: commit clients/typescript/openapi.json and clients/typescript/src/schema.ts');
