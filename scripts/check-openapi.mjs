#!/usr/bin/env node
// The committed OpenAPI document (clients/typescript/openapi.json), checked on every `npm test` (scripts/test.mjs
// counts its results). test/openapi.test.ts keeps the snapshot equal to what the routes produce, so these checks
// hold for the live /openapi.json:
//   1. it validates against the OpenAPI 3.1 schema (@seriousme/openapi-schema-validator);
//   2. Redocly CLI lints it with the recommended rules (redocly.yaml): no error, and no warning beyond the
//      accepted ones pinned in .redocly.lint-ignore.yaml.
// Usage: node scripts/check-openapi.mjs [--quiet]. Prints PASS/FAIL lines and `N passed, N failed`.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Validator } from '@seriousme/openapi-schema-validator';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SNAPSHOT = path.join(root, 'clients', 'typescript', 'openapi.json');
const results = [];
const check = (name, ok, detail = '') => results.push({ name, ok, detail });

let doc;
try {
  doc = JSON.parse(readFileSync(SNAPSHOT, 'utf8'));
  check('openapi: the committed snapshot parses', true);
} catch (e) {
  check('openapi: the committed snapshot parses', false, String(e.message ?? e));
}

if (doc) {
  const validator = new Validator();
  const verdict = await validator.validate(doc);
  check(
    `openapi: validates against the OpenAPI ${validator.version ?? '3.1'} schema`,
    verdict.valid && String(validator.version).startsWith('3.1'),
    verdict.valid ? `version ${validator.version}` : JSON.stringify(verdict.errors, null, 2).slice(0, 4000),
  );

  const lint = spawnSync(process.execPath, [path.join(root, 'node_modules', '@redocly', 'cli', 'bin', 'cli.js'), 'lint', '--format=json'], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NO_COLOR: '1' },
    maxBuffer: 64 * 1024 * 1024,
  });
  let report;
  try {
    report = JSON.parse(lint.stdout.slice(lint.stdout.indexOf('{')));
  } catch {
    check('openapi: Redocly lint ran', false, `${lint.stderr}\n${lint.stdout}`.slice(0, 4000));
  }
  if (report) {
    const { errors, warnings, ignored } = report.totals;
    const listed = report.problems
      .map((p) => `${p.severity} ${p.ruleId}: ${p.message} at ${p.location?.map((l) => l.pointer).join(', ')}`)
      .join('\n');
    check(`openapi: Redocly lint, recommended rules: 0 errors (${errors})`, errors === 0, listed);
    check(`openapi: Redocly lint: no warning beyond the ${ignored} accepted in redocly.yaml (${warnings})`, warnings === 0, listed);
  }
}

const quiet = process.argv.includes('--quiet');
for (const r of results) {
  if (quiet && r.ok) continue;
  console.log(`${r.ok ? 'PASS' : 'FAIL'}  ${r.name}`);
  if (!r.ok && r.detail) console.log(r.detail.replace(/^/gm, '      '));
}
const failed = results.filter((r) => !r.ok).length;
console.log(`${results.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
