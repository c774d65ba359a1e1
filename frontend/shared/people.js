// Names of people. The KPI services know people only by staff_id; names belong to the HR and
// contract system. Here that is the contract-system simulator, asked politely and optionally.

import { contractSystem } from './api.js';

let cache = null;

/** [{staff_id, name, role_group}] known to the contract system, or [] when it is not reachable. */
export async function knownPeople() {
  if (cache) return cache;
  try {
    const people = await contractSystem('/people', { redirectOn401: false });
    cache = Array.isArray(people) ? people : [];
  } catch {
    cache = [];
  }
  return cache;
}

/** A display name for a staff id (falls back to "Staff member 1a2b3c4d"). */
export async function nameOf(staffId) {
  const people = await knownPeople();
  const hit = people.find((p) => p.staff_id === staffId);
  return hit ? hit.name : `Staff member ${String(staffId).slice(0, 8)}`;
}
