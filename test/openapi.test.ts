import { describe, expect, it } from 'vitest';
import { useTestDatabase } from './helpers/db';
import { call } from './helpers/http';
import { accessOf, openApiDocument, operations, type OpenApiDocument } from './helpers/openapi';
import { signUp } from './helpers/users';

// The OpenAPI document is a product clients build on (the typed client in clients/typescript, Postman, SDK
// generators): its snapshot is committed, and every operation follows the same conventions. scripts/check-openapi.mjs
// validates the snapshot against the OpenAPI 3.1 schema and lints it (Redocly), so together they hold for the live document.

const db = useTestDatabase();
const ERROR_REF = '#/components/schemas/Error';

describe('/openapi.json', () => {
  it('is the committed snapshot clients/typescript/openapi.json (after a route change: npm run client)', async () => {
    const r = await call<OpenApiDocument>(db.env, '/openapi.json');
    expect(r.status).toBe(200);
    await expect(`${JSON.stringify(r.body, null, 2)}\n`, 'the routes changed the OpenAPI document: run `npm run client` and commit the result').toMatchFileSnapshot(
      '../clients/typescript/openapi.json',
    );
  });

  it('every operation has a unique dotted operationId, a summary and declared tags', async () => {
    const doc = await openApiDocument(db.env);
    const ops = operations(doc);
    expect(ops.length).toBeGreaterThan(100);
    const declared = new Set((doc.tags ?? []).map((t) => t.name));
    const ids = new Map<string, string>();
    for (const { method, path, op } of ops) {
      const where = `${method.toUpperCase()} ${path}`;
      expect(op.operationId, where).toMatch(/^[a-z][A-Za-z0-9]*(\.[a-z][A-Za-z0-9]*)+$/);
      expect(ids.get(op.operationId!), `${where} repeats the operationId of ${ids.get(op.operationId!)}`).toBeUndefined();
      ids.set(op.operationId!, where);
      expect(op.summary?.length, where).toBeGreaterThan(0);
      expect(op.tags?.length, where).toBeGreaterThan(0);
      for (const tag of op.tags!) expect(declared.has(tag), `${where}: tag ${tag} is not in the document's tags`).toBe(true);
    }
  });

  it('every operation documents its refusals in the error envelope, and its access', async () => {
    const doc = await openApiDocument(db.env);
    for (const { method, path, op } of operations(doc)) {
      const where = `${method.toUpperCase()} ${path}`;
      const statuses = Object.keys(op.responses);
      expect(statuses.some((s) => s.startsWith('4')), `${where} documents no 4xx`).toBe(true);
      for (const status of statuses.filter((s) => Number(s) >= 400)) {
        // /healthz answers its outage with the health report itself.
        if (path === '/healthz' && status === '503') continue;
        expect(op.responses[status]!.content?.['application/json']?.schema?.$ref, `${where} ${status}`).toBe(ERROR_REF);
      }
      expect(op.security, `${where}: security must be explicit ([] for public operations)`).toBeDefined();
      for (const requirement of op.security!) for (const scheme of Object.keys(requirement)) expect(doc.components.securitySchemes, where).toHaveProperty(scheme);
      const hasInput = Boolean(op.requestBody) || (op.parameters ?? []).length > 0;
      if (hasInput) expect(statuses, `${where} takes input: 400 documented`).toContain('400');
      if (accessOf(op) === 'session') expect(statuses, `${where} needs a session: 401 documented`).toContain('401');
      if (op.security!.some((r) => 'stepUpToken' in r)) expect(statuses, `${where} needs a step-up: 403 documented`).toContain('403');
    }
  });

  it('every paged list bounds limit and offset the same way, and refuses an offset past the bound', async () => {
    const doc = await openApiDocument(db.env);
    const paged = operations(doc).filter(({ op }) => (op.parameters ?? []).some((p) => p.in === 'query' && p.name === 'offset'));
    expect(paged.length).toBeGreaterThanOrEqual(8);
    for (const { method, path, op } of paged) {
      const bound = (name: string) => (op.parameters!.find((p) => p.in === 'query' && p.name === name)?.schema as { maximum?: number } | undefined)?.maximum;
      expect([bound('limit'), bound('offset')], `${method.toUpperCase()} ${path}`).toEqual([100, 100_000]);
    }
    const user = await signUp(db);
    const past = await call(db.env, '/api/v1/notifications?offset=100001', { token: user.token });
    expect(past.status).toBe(400);
    expect(past.body.error.code).toBe('VALIDATION_ERROR');
    expect((await call(db.env, '/api/v1/notifications?offset=100000', { token: user.token })).status).toBe(200);
  });

  it('declares the security schemes clients authenticate with', async () => {
    const { components } = await openApiDocument(db.env);
    expect(components.securitySchemes).toMatchObject({
      clerkSession: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
      stepUpToken: { type: 'apiKey', in: 'header', name: 'X-Step-Up-Token' },
      adminToken: { type: 'http', scheme: 'bearer' },
      metricsToken: { type: 'http', scheme: 'bearer' },
    });
  });
});
