import swaggerUiScript from 'swagger-ui-dist/swagger-ui-bundle.js';
import swaggerUiStyles from 'swagger-ui-dist/swagger-ui.css';
import type { Context } from 'hono';
import type { App, AppEnv } from '../../router';
import { AppError } from '../../lib/errors';
import { registerSecuritySchemes } from '../kit';

// Everything the docs page loads comes from this worker, so it renders offline and the CSP names no other origin.
// Swagger UI sets inline styles on its elements ('unsafe-inline' for styles only) and uses data: images.
const DOCS_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

const DOCS_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>FairArena API</title>
<link rel="stylesheet" href="/api-docs/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/api-docs/swagger-ui-bundle.js"></script>
<script src="/api-docs/init.js"></script>
</body>
</html>
`;

// A file rather than an inline script, so the CSP needs no 'unsafe-inline' for scripts.
const INIT_JS = `window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#swagger-ui', deepLinking: true, persistAuthorization: false });\n`;

const ASSETS: Record<string, { body: string; type: string }> = {
  '/api-docs': { body: DOCS_HTML, type: 'text/html; charset=utf-8' },
  '/api-docs/swagger-ui-bundle.js': { body: swaggerUiScript, type: 'text/javascript; charset=utf-8' },
  '/api-docs/swagger-ui.css': { body: swaggerUiStyles, type: 'text/css; charset=utf-8' },
  '/api-docs/init.js': { body: INIT_JS, type: 'text/javascript; charset=utf-8' },
};

/** The document's tags, in the order tools list them. */
const TAGS = [
  { name: 'profile', description: "The caller's profile and public profiles" },
  { name: 'settings', description: "The caller's settings" },
  { name: 'account-settings', description: 'Step-up verification, the activity log and the data export' },
  { name: 'notifications', description: 'In-app notifications and their live stream' },
  { name: 'stars', description: 'Stars on profiles' },
  { name: 'organization', description: 'Organizations, their members, roles, invitations and audit log' },
  { name: 'team', description: 'Teams of an organization, their members, roles, invitations and audit log' },
  { name: 'project', description: 'Projects of a team, their members and roles' },
  { name: 'credits', description: 'Credit balance and ledger, phone verification and the free credits' },
  { name: 'payments', description: 'Razorpay orders and payment history' },
  { name: 'plans', description: 'Credit plans' },
  { name: 'ai', description: 'The assistant' },
  { name: 'support', description: 'Support requests' },
  { name: 'feedback', description: 'General and weekly feedback' },
  { name: 'reports', description: 'Reports of abusive content' },
  { name: 'newsletter', description: 'Newsletter subscription (double opt-in)' },
  { name: 'platform', description: 'Invitations to FairArena' },
  { name: 'webhooks', description: 'Deliveries from Clerk, Razorpay, GitHub and QStash (signed)' },
  { name: 'system', description: 'Health and metrics' },
  { name: 'admin', description: 'Operator routes' },
  { name: 'development', description: 'Local development helpers' },
];

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
        tags: TAGS,
      });
      doc = { url, json: JSON.stringify(document) };
    }
    return c.body(doc.json, 200, { 'Content-Type': 'application/json' });
  });
  registerSecuritySchemes(app);

  const serve = (c: Context<AppEnv>) => {
    const asset = ASSETS[c.req.path]!;
    if (c.get('config').ENVIRONMENT === 'production') throw new AppError('NOT_FOUND', `No route for GET ${c.req.path}`);
    c.header('Content-Security-Policy', DOCS_CSP);
    // A page, unlike the API's JSON: keep other origins' windows out of its browsing context group.
    c.header('Cross-Origin-Opener-Policy', 'same-origin');
    c.header('Content-Type', asset.type);
    // The bundled assets change only with a deployment; the page itself is tiny.
    c.header('Cache-Control', c.req.path === '/api-docs' ? 'no-cache' : 'public, max-age=3600');
    return c.body(asset.body);
  };
  for (const path of Object.keys(ASSETS)) app.get(path, serve);
}
