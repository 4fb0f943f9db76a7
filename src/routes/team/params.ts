import { Paging, z } from '../kit';
import { IdOrSlug } from '../organization/schemas';

// Addressing, shared by the team routes (./index.ts) and the invitation routes (./invites.ts): `:teamId` is the
// team's uuid, or its slug together with `?orgId=` (org id or slug) — a team slug is only unique inside its
// organization. Bodies naming a team use the same pair (teamId, orgId).

export const OrgQualifier = IdOrSlug.optional().openapi({ description: "The team's organization (id or slug); required when the team is given by slug" });
export const TeamParam = z.object({ teamId: IdOrSlug.openapi({ param: { name: 'teamId', in: 'path' }, description: 'Team id, or slug with ?orgId=' }) });
export const TeamQuery = z.object({ orgId: OrgQualifier });
export const TeamPagedQuery = Paging.extend({ orgId: OrgQualifier });
export const target = (teamId: string, orgId?: string) => ({ team: teamId, org: orgId });
