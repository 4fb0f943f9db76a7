import createClient, { type Client, type ClientOptions } from 'openapi-fetch';
import type { components, operations, paths } from './schema';

export type { components, operations, paths };

/** Every named schema of the API (`Schemas['Organization']`, `Schemas['Error']`, …). */
export type Schemas = components['schemas'];
/** The error envelope every 4xx/5xx answer carries. */
export type ApiError = Schemas['Error'];
export type FairArenaClient = Client<paths>;

/** A token, or a function returning the current one (Clerk session tokens live about a minute). */
type TokenSource = string | (() => string | null | undefined | Promise<string | null | undefined>);

export interface FairArenaClientOptions extends ClientOptions {
  /** Clerk session token, sent as `Authorization: Bearer …`. */
  token?: TokenSource;
  /** Step-up token from `POST /api/v1/account-settings/verify-otp`, sent as `X-Step-Up-Token`. */
  stepUpToken?: TokenSource;
}

const resolve = async (source: TokenSource | undefined) => (typeof source === 'function' ? await source() : source) ?? null;

/**
 * A typed client of the FairArena API: `client.GET('/api/v1/profile')`, `client.POST('/api/v1/organization', { body })`.
 * Paths, parameters, bodies and answers are checked against the OpenAPI document this package was generated from.
 */
export function createFairArenaClient(options: FairArenaClientOptions = {}): FairArenaClient {
  const { token, stepUpToken, ...rest } = options;
  const client = createClient<paths>(rest);
  client.use({
    async onRequest({ request }) {
      const session = await resolve(token);
      if (session) request.headers.set('Authorization', `Bearer ${session}`);
      const stepUp = await resolve(stepUpToken);
      if (stepUp) request.headers.set('X-Step-Up-Token', stepUp);
      return request;
    },
  });
  return client;
}
