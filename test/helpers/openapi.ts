import type { Env } from '../../src/config';
import { call } from './http';

// The slice of an OpenAPI 3.1 document the document tests walk.

export interface OpenApiMedia {
  schema?: { $ref?: string };
  example?: unknown;
}
export interface OpenApiResponse {
  description: string;
  content?: Record<string, OpenApiMedia>;
}
export interface OpenApiParameter {
  name: string;
  in: 'path' | 'query' | 'header' | 'cookie';
  required?: boolean;
  schema?: { type?: string; format?: string; minLength?: number; maxLength?: number; pattern?: string };
}
export interface OpenApiOperation {
  operationId?: string;
  summary?: string;
  tags?: string[];
  security?: Record<string, string[]>[];
  parameters?: OpenApiParameter[];
  requestBody?: { required?: boolean; content: Record<string, OpenApiMedia> };
  responses: Record<string, OpenApiResponse>;
}
export interface OpenApiDocument {
  openapi: string;
  tags?: { name: string; description?: string }[];
  paths: Record<string, Record<string, OpenApiOperation>>;
  components: { schemas: Record<string, unknown>; securitySchemes: Record<string, { type: string }> };
}

export interface Operation {
  method: string;
  path: string;
  op: OpenApiOperation;
}

export async function openApiDocument(env: Env): Promise<OpenApiDocument> {
  return (await call<OpenApiDocument>(env, '/openapi.json')).body;
}

export function operations(doc: OpenApiDocument): Operation[] {
  return Object.entries(doc.paths).flatMap(([path, ops]) => Object.entries(ops).map(([method, op]) => ({ method, path, op })));
}

/** Who the operation's `security` admits: anyone, a Clerk session, or the holder of another credential. */
export function accessOf(op: OpenApiOperation): 'public' | 'session' | 'credential' {
  const security = op.security ?? [];
  if (security.length === 0 || security.some((requirement) => Object.keys(requirement).length === 0)) return 'public';
  if (security.every((requirement) => 'clerkSession' in requirement)) return 'session';
  return 'credential';
}
