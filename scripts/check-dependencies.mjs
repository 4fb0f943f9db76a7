#!/usr/bin/env node
// The dependency rule of src/, checked on every `npm test` (scripts/test.mjs counts its results):
//   entry (index.ts, app.ts) → doors (routes/, queue/, jobs/, middleware/, router.ts) → services/
//   → foundation (events/, durable/, db/, integrations/, lib/, config.ts)
// An import may go down or stay in its layer, never up, and no files may import each other in a circle
// (type-only imports count: they tie the modules together just the same). A file outside every layer is a
// failure too, so a new top-level folder has to be placed in the rule first.
// Usage: node scripts/check-dependencies.mjs [--quiet]. Prints PASS/FAIL lines and `N passed, N failed`.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const LAYERS = [
  { name: 'entry', rank: 3, tops: ['index', 'app'] },
  { name: 'doors', rank: 2, tops: ['routes', 'queue', 'jobs', 'middleware', 'router'] },
  { name: 'services', rank: 1, tops: ['services'] },
  { name: 'foundation', rank: 0, tops: ['events', 'durable', 'db', 'integrations', 'lib', 'config'] },
];

/** The layer of a path relative to src/ ('lib/cache.ts', 'router.ts'), or null when it is in none. */
export function layerOf(rel) {
  const top = rel.split('/')[0].replace(/\.(ts|tsx|mts|js|mjs)$/, '');
  return LAYERS.find((l) => l.tops.includes(top)) ?? null;
}

const SOURCE = /\.(ts|tsx|mts|js|mjs)$/;

/**
 * Every module specifier a file names: static, re-export, type-only, `import('…')` types and dynamic imports.
 * Patterns over the text rather than a parser (the project's TypeScript has no JS API): an import written
 * inside a comment would count too, which can only make the check stricter, never blind.
 */
export function specifiers(text) {
  const out = new Set();
  for (const m of text.matchAll(/(?:import|export)\s[^'";]*?from\s*['"]([^'"]+)['"]/g)) out.add(m[1]);
  for (const m of text.matchAll(/import\(\s*['"]([^'"]+)['"]\s*\)/g)) out.add(m[1]);
  for (const m of text.matchAll(/^\s*import\s*['"]([^'"]+)['"]/gm)) out.add(m[1]);
  return [...out];
}

/** A relative specifier resolved the way the bundler does (extension or folder index), or null. */
function resolveIn(files, fromRel, spec) {
  const base = path.posix.normalize(path.posix.join(path.posix.dirname(fromRel), spec));
  for (const c of [base, `${base}.ts`, `${base}.tsx`, `${base}.mts`, `${base}.js`, `${base}/index.ts`, `${base}/index.js`]) {
    if (files.has(c)) return c;
  }
  return null;
}

/**
 * The import graph of a source tree given as Map<relative path, text>: Map<file, [{ to, spec }]>, plus the
 * relative imports that resolve to no file of the tree.
 */
export function importGraph(sources) {
  const graph = new Map();
  const unresolved = [];
  for (const [file, text] of sources) {
    const edges = [];
    for (const spec of specifiers(text)) {
      if (!spec.startsWith('.')) continue; // packages and `cloudflare:` modules sit outside the rule
      const to = resolveIn(sources, file, spec);
      if (to) edges.push({ to, spec });
      else unresolved.push({ from: file, spec });
    }
    graph.set(file, edges);
  }
  return { graph, unresolved };
}

/** Strongly connected components with more than one file (Tarjan), each as one concrete circle of imports. */
export function cycles(graph) {
  let next = 0;
  const index = new Map();
  const low = new Map();
  const stack = [];
  const onStack = new Set();
  const found = [];
  const visit = (v) => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const { to } of graph.get(v) ?? []) {
      if (!index.has(to)) {
        visit(to);
        low.set(v, Math.min(low.get(v), low.get(to)));
      } else if (onStack.has(to)) low.set(v, Math.min(low.get(v), index.get(to)));
    }
    if (low.get(v) !== index.get(v)) return;
    const scc = new Set();
    let w;
    do {
      w = stack.pop();
      onStack.delete(w);
      scc.add(w);
    } while (w !== v);
    if (scc.size > 1) found.push(circleThrough(graph, scc, v));
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v);
  return found;
}

/** One shortest circle start → … → start inside a component, as its import edges. */
function circleThrough(graph, scc, start) {
  const prev = new Map();
  const queue = [start];
  const seen = new Set([start]);
  while (queue.length) {
    const v = queue.shift();
    for (const e of graph.get(v) ?? []) {
      if (!scc.has(e.to)) continue;
      if (e.to === start) {
        const edges = [{ from: v, ...e }];
        for (let u = v; u !== start; u = prev.get(u).from) edges.unshift(prev.get(u));
        return edges;
      }
      if (!seen.has(e.to)) {
        seen.add(e.to);
        prev.set(e.to, { from: v, ...e });
        queue.push(e.to);
      }
    }
  }
  return [];
}

/** Every way a graph breaks the rule, each naming the offending import. */
export function violations({ graph, unresolved }) {
  const found = { upward: [], cycles: [], unplaced: [], unresolved };
  for (const [from, edges] of graph) {
    const lf = layerOf(from);
    if (!lf) {
      found.unplaced.push(from);
      continue;
    }
    for (const { to, spec } of edges) {
      const lt = layerOf(to);
      if (lt && lt.rank > lf.rank) found.upward.push({ from, to, spec, detail: `${lf.name} may not import ${lt.name}` });
    }
  }
  found.cycles = cycles(graph);
  return found;
}

/** The parameters of a parenthesised list starting at `open` (the index of its `(`), split at top-level commas. */
function parameterList(text, open) {
  const params = [];
  let depth = 0;
  let current = '';
  for (let i = open; i < text.length; i++) {
    const ch = text[i];
    if ('([{<'.includes(ch)) depth++;
    else if (')]}>'.includes(ch) && !(ch === '>' && text[i - 1] === '=')) depth--;
    if (depth === 0) break;
    if (ch === ',' && depth === 1) {
      params.push(current);
      current = '';
    } else if (!(i === open)) current += ch;
  }
  if (current.trim()) params.push(current);
  return params.map((p) => p.trim()).filter(Boolean);
}

/** What only a door or the context may hand around: a service gets them through `ctx`. */
const IO_PARAMETER = /^(?:(?:tx|db|deps|env|config)\??\s*:|[\w{}\s,]+\??\s*:\s*(?:Transaction|Database|Queryable|Db|DbHandle|Env|Config)\b)/;

/**
 * The service shape: every exported function of services/ that does I/O takes `(ctx, input)`: the context
 * first and at most one input value. A function that takes a transaction, a database, the env, the config
 * or a bag of those instead of a context breaks it; pure functions (no I/O parameter) are free in shape.
 */
export function shapeViolations(sources) {
  const found = [];
  for (const [file, text] of sources) {
    // context.ts is where a door turns env and a database into a context: it is the one place that takes them.
    if (!file.startsWith('services/') || file === 'services/context.ts') continue;
    for (const m of text.matchAll(/export\s+(?:async\s+)?function\s+(\w+)\s*(<[^(]*>)?\s*\(/g)) {
      const params = parameterList(text, m.index + m[0].length - 1);
      const name = m[1];
      const takesContext = /^\w+\??\s*:\s*(ServiceContext|HandlerContext)\b/.test(params[0] ?? '') || /^\{[^}]*\}\s*:\s*ServiceContext\b/.test(params[0] ?? '');
      const io = params.find((p) => IO_PARAMETER.test(p));
      if (io) found.push(`src/${file}: ${name}(${params.map((p) => p.split(':')[0].trim()).join(', ')}) takes '${io.split(/\s+/).slice(0, 3).join(' ')}': take (ctx, input) instead`);
      else if (takesContext && params.length > 2) found.push(`src/${file}: ${name} takes ${params.length} parameters: take (ctx, input) with one input value`);
    }
  }
  return found;
}

const describeEdge = (e) => `src/${e.from} imports '${e.spec}' (src/${e.to})`;
export const describeCycle = (edges) => edges.map(describeEdge).join(', ');

/** The source files under src/ (declaration files hold no imports of ours). */
export function readSources(srcDir) {
  const sources = new Map();
  const walk = (dir) => {
    for (const name of readdirSync(dir).sort()) {
      const p = path.join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (SOURCE.test(name) && !name.endsWith('.d.ts')) sources.set(path.relative(srcDir, p).split(path.sep).join('/'), readFileSync(p, 'utf8'));
    }
  };
  walk(srcDir);
  return sources;
}

async function main() {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  const results = [];
  const check = (name, problems) => results.push({ name, ok: problems.length === 0, problems });

  // The checker itself: a planted upward import, a planted circle and an unplaced folder are caught, a clean
  // tree passes (otherwise a broken checker would report a clean src/ forever).
  const planted = violations(importGraph(new Map([
    ['lib/keys.ts', "import type { View } from '../services/views';\n"],
    ['services/views.ts', "export type View = { id: string };\n"],
    ['db/a.ts', "export { b } from './b';\n"],
    ['db/b.ts', "import { a } from './a';\nexport const b = a;\n"],
    ['widgets/w.ts', "import { b } from '../db/b';\n"],
    ['routes/r.ts', "import { x } from '../services/views';\ntype T = import('../lib/keys').K;\n"],
  ])));
  check('checker: finds an upward import, a circle and a file outside every layer', [
    ...(planted.upward.length === 1 && planted.upward[0].from === 'lib/keys.ts' ? [] : [`upward: ${JSON.stringify(planted.upward)}`]),
    ...(planted.cycles.length === 1 && planted.cycles[0].length === 2 ? [] : [`cycles: ${JSON.stringify(planted.cycles)}`]),
    ...(planted.unplaced.join() === 'widgets/w.ts' ? [] : [`unplaced: ${JSON.stringify(planted.unplaced)}`]),
  ]);
  const clean = violations(importGraph(new Map([
    ['index.ts', "import { app } from './app';\n"],
    ['app.ts', "import r from './routes/r';\nexport const app = r;\n"],
    ['routes/r.ts', "import { s } from '../services/s';\nimport { serviceContext } from '../router';\nexport default s;\n"],
    ['router.ts', "import type { Ctx } from './services/s';\nexport const serviceContext = 1;\n"],
    ['services/s.ts', "import { k } from '../lib/k';\nexport const s = k;\n"],
    ['lib/k.ts', "import type { Config } from '../config';\nexport const k = 1;\n"],
    ['config.ts', "export type Config = {};\n"],
  ])));
  check('checker: a tree that keeps the rule passes', [...clean.upward, ...clean.cycles, ...clean.unplaced].map((x) => JSON.stringify(x)));

  const srcDir = path.join(root, 'src');
  if (!existsSync(srcDir)) throw new Error(`no src/ under ${root}`);
  const real = violations(importGraph(readSources(srcDir)));
  check('src/: no import runs upward (entry → doors → services → foundation)', real.upward.map((e) => `${describeEdge(e)}: ${e.detail}`));
  check('src/: no import cycles', real.cycles.map((c) => `cycle: ${describeCycle(c)}`));
  check('src/: every file sits in a layer', real.unplaced.map((f) => `src/${f} is in no layer (place its folder in scripts/check-dependencies.mjs)`));
  check('src/: every relative import resolves', real.unresolved.map((u) => `src/${u.from} imports '${u.spec}', which is no file of src/`));

  // The shape checker itself: a transaction parameter and a third argument are caught; (ctx, input) and pure helpers pass.
  const plantedShape = shapeViolations(new Map([
    ['services/a.ts', 'export async function grant(tx: Transaction, userId: string) {}\nexport async function move(ctx: ServiceContext, from: string, to: string) {}\n'],
    ['services/b.ts', 'export async function ok(ctx: ServiceContext, input: { a: Map<string, number>; b: (x: number) => void }) {}\nexport function pure(a: string, b: string, c = 1): string { return a; }\n'],
  ]));
  check('checker: finds a service taking a transaction and one taking three parameters', plantedShape.length === 2 && plantedShape[0].includes('grant') && plantedShape[1].includes('move') ? [] : [JSON.stringify(plantedShape)]);
  if (!process.argv.includes('--no-shape')) check('src/services: every exported I/O function takes (ctx, input)', shapeViolations(readSources(srcDir)));

  const quiet = process.argv.includes('--quiet');
  for (const r of results) {
    if (quiet && r.ok) continue;
    console.log(`${r.ok ? 'PASS' : 'FAIL'}  ${r.name}`);
    for (const p of r.problems) console.log(`      ${p}`);
  }
  const failed = results.filter((r) => !r.ok).length;
  console.log(`${results.length - failed} passed, ${failed} failed`);
  process.exitCode = failed ? 1 : 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
