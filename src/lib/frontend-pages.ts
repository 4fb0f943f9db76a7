/**
 * Pages of the web front end that the API sends people to: mails, notifications and the assistant's answers name
 * them from here, so a link never points at a page the front end does not have. Paths under `FRONTEND_URL`.
 */
export const FRONTEND_PAGES = {
  home: '/',
  signUp: '/signup',
  signIn: '/signin',
  pricing: '/pricing',
  support: '/support',
  profile: '/dashboard/profile',
  organizations: '/dashboard/organizations',
  notifications: '/dashboard/notifications',
  credits: '/dashboard/credits',
  settings: '/dashboard/settings',
  supportInbox: '/dashboard/support',
  /** Pages opened from a link that carries its own id or code. */
  payment: (paymentId: string) => `/billing/payments/${encodeURIComponent(paymentId)}`,
  team: (orgSlug: string, teamId: string) => `/organization/${encodeURIComponent(orgSlug)}/team/${encodeURIComponent(teamId)}`,
  invite: (scope: string, code: string) => `/invite/${scope}/${code}`,
  feedback: (code: string) => `/feedback/${code}`,
  newsletter: (purpose: string) => `/newsletter/${purpose}`,
  publicProfile: (userId: string) => `/profile/${encodeURIComponent(userId)}`,
} as const;

/** `FRONTEND_URL` + a page path, for links in mails and notifications. */
export const frontendUrl = (ctx: { config: { FRONTEND_URL: string } }, path: string): string => `${ctx.config.FRONTEND_URL.replace(/\/+$/, '')}${path}`;
