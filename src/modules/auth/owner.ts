import type { OwnerType } from '../../db/schema.ts';
import { forbidden } from '../../errors/index.ts';
import type { Principal } from './auth.service.ts';

/** Whose BYOK settings a request addresses (CONTRACT.md section 2). */
export interface Owner {
  type: OwnerType;
  id: string;
}

/** The team when the caller is in one, else the caller. */
export function ownerOf(p: Principal): Owner {
  return p.membership ? { type: 'team', id: p.membership.teamId } : { type: 'user', id: p.user.id };
}

/** Solo user → own settings; team admin → the team's; member or viewer → 403. */
export function requireOwnerManager(p: Principal): Owner {
  if (p.membership && p.membership.role !== 'admin') {
    throw forbidden(`only team admins manage BYOK settings; your team role is ${p.membership.role}`);
  }
  return ownerOf(p);
}

export const ownerKey = (o: Owner): string => `${o.type}:${o.id}`;
