// Which Gatehouse groups a login certificate carries: the provider's groups claim (a list, or one
// string as some providers send a single group) filtered by the endpoint's `allowedGroups`, in the
// claim's order. A user in none of them is refused: a certificate with no group reaches nothing,
// and issuing one would only add a valid certificate to the world.

export type LoginGroupsDecision =
  | { readonly allowed: true; readonly groups: readonly string[] }
  | {
      readonly allowed: false;
      readonly reason: 'not_in_allowed_group';
      /** The claim's values as read (for the message and the audit line). */
      readonly claimed: readonly string[];
    };

export function claimValues(claim: unknown): string[] {
  if (typeof claim === 'string') return [claim];
  if (Array.isArray(claim)) return claim.filter((v): v is string => typeof v === 'string');
  return [];
}

export function decideLoginGroups(claim: unknown, allowedGroups: readonly string[]): LoginGroupsDecision {
  const claimed = claimValues(claim);
  const allowed = new Set(allowedGroups);
  const groups = [...new Set(claimed.filter((g) => allowed.has(g)))];
  if (groups.length === 0) return { allowed: false, reason: 'not_in_allowed_group', claimed };
  return { allowed: true, groups };
}
