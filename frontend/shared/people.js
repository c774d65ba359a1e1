// Names of people. The KPI services know people only by staff_id; names belong to the HR and
// contract system. Here that is the contract-system simulator, asked politely and optionally.

import { contractSystem } from './api.js';

let cache = null;

/** [{staff_id, name, role_group, exited}] known to the contract system; an ApiError when it cannot
 * be reached, which is not "nobody yet" (a failure is not kept: the next call asks again). */
export async function knownPeople() {
  if (cache) return cache;
  const people = await contractSystem('/people', { redirectOn401: false });
  cache = Array.isArray(people) ? people : [];
  return cache;
}

/** A display name for a staff id (falls back to "Staff member 1a2b3c4d"). */
export async function nameOf(staffId) {
  const people = await knownPeople().catch(() => []);
  const hit = people.find((p) => p.staff_id === staffId);
  return hit ? hit.name : `Staff member ${String(staffId).slice(0, 8)}`;
}
