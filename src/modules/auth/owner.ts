import type { Owner } from '../../db/schema.ts';
import { forbidden } from '../../errors/index.ts';
import type { Principal } from './auth.service.ts';

// The type and its key live with the schema, below crypto/ and modules/ which both use them.
export { ownerKey, type Owner } from '../../db/schema.ts';

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
