import { swaggerUI } from '@hono/swagger-ui';
import type { App } from '../../router';
import { AppError } from '../../lib/errors';

const DOCS_CSP =
  "default-src 'none'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; img-src 'self' data: https://cdn.jsdelivr.net; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/** OpenAPI document generated from the same zod schemas that validate requests; UI outside production. */
export function registerDocs(app: App): void {
  // Generated once per isolate (per public URL): building it walks every route's zod schemas.
  let doc: { url: string; json: string } | undefined;
  app.get('/openapi.json', (c) => {
    const url = c.get('config').PUBLIC_BASE_URL;
    if (doc?.url !== url) {
      const document = app.getOpenAPI31Document({
        openapi: '3.1.0',
        info: {
          title: 'FairArena API',
          version: '1.0.0',
          description: 'Hackathon platform API. Success: {"data": …}; errors: {"error": {code, message, requestId, details?}}. Tracing: send a W3C `traceparent` header to continue your trace; every response carries `traceparent` for the server span.',
        },
        servers: [{ url }],
      });
      doc = { url, json: JSON.stringify(document) };
    }
    return c.body(doc.json, 200, { 'Content-Type': 'application/json' });
  });
  app.openAPIRegistry.registerComponent('securitySchemes', 'clerkSession', {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description: 'Clerk session token (or the __session cookie). Session tokens only: API keys, machine and OAuth tokens are not accepted.',
  });
  app.openAPIRegistry.registerComponent('securitySchemes', 'metricsToken', { type: 'http', scheme: 'bearer', description: 'METRICS_TOKEN' });
  app.openAPIRegistry.registerComponent('securitySchemes', 'adminToken', { type: 'http', scheme: 'bearer', description: 'ADMIN_TOKEN (operator routes)' });

  const ui = swaggerUI({ url: '/openapi.json' });
  app.get('/api-docs', async (c, next) => {
    if (c.get('config').ENVIRONMENT === 'production') throw new AppError('NOT_FOUND', 'No route for GET /api-docs');
    c.header('Content-Security-Policy', DOCS_CSP);
    return ui(c as never, next);
  });
}
