// Which Redis user a client certificate is on a direct listener's node connections: the listener's
// `redisUsers`, in order, first match wins (by the certificate's groups or its common name). No
// match refuses the client (fail closed). Pure: compiled once per config snapshot, decided per
// connection; the password file is named here and read by the face.
import type { ConfigSource } from '../config/source.js';

export const REDIS_USER_REASONS = ['redis_user_matched', 'no_redis_user'] as const;
export type RedisUserReason = (typeof REDIS_USER_REASONS)[number];

export interface RedisUserEntry {
  readonly groups?: readonly string[];
  readonly identities?: readonly string[];
  readonly user: string;
  readonly passwordFile: string;
}

export interface RedisUserRuleRef {
  /** 0-based position in the listener's list. */
  readonly index: number;
  /** As a person reads it: "groups developers → dev". */
  readonly text: string;
  /** FILE:LINE of the entry (of the `redisUsers` key when none matched). */
  readonly where: string;
}

export interface RedisUserDecision {
  readonly allowed: boolean;
  readonly reason: RedisUserReason;
  readonly rule?: RedisUserRuleRef;
  /** The Redis user and its password file (as configured), when allowed. */
  readonly user?: string;
  readonly passwordFile?: string;
}

interface CompiledEntry {
  readonly groups: ReadonlySet<string> | undefined;
  readonly identities: ReadonlySet<string> | undefined;
  readonly user: string;
  readonly passwordFile: string;
  readonly ref: RedisUserRuleRef;
}

export interface RedisUserPolicy {
  readonly entries: readonly CompiledEntry[];
  /** FILE:LINE of the list itself: where a refusal points. */
  readonly where: string;
}

/** `at` is the config path of the list (…, "directListeners", i, "redisUsers"). */
export function compileRedisUsers(
  entries: readonly RedisUserEntry[],
  source: ConfigSource,
  at: readonly (string | number)[],
): RedisUserPolicy {
  return {
    where: source.where(at),
    entries: entries.map((e, index) => {
      const who = e.groups
        ? `groups ${e.groups.join(', ')}`
        : `identities ${(e.identities ?? []).join(', ')}`;
      return {
        groups: e.groups ? new Set(e.groups) : undefined,
        identities: e.identities ? new Set(e.identities) : undefined,
        user: e.user,
        passwordFile: e.passwordFile,
        ref: { index, text: `${who} → ${e.user}`, where: source.where([...at, index]) },
      };
    }),
  };
}

/** The Redis user of a client with this certificate common name and these groups. */
export function decideRedisUser(
  policy: RedisUserPolicy,
  identity: { readonly commonName: string; readonly groups: readonly string[] },
): RedisUserDecision {
  for (const e of policy.entries) {
    const match = e.groups
      ? identity.groups.some((g) => e.groups!.has(g))
      : (e.identities?.has(identity.commonName) ?? false);
    if (match)
      return {
        allowed: true,
        reason: 'redis_user_matched',
        rule: e.ref,
        user: e.user,
        passwordFile: e.passwordFile,
      };
  }
  return {
    allowed: false,
    reason: 'no_redis_user',
    rule: { index: -1, text: 'no entry matched', where: policy.where },
  };
}

export function describeRedisUser(d: RedisUserDecision): string {
  return d.allowed
    ? `Redis user ${d.user} (redisUsers entry ${d.rule!.index + 1}: ${d.rule!.text}, at ${d.rule!.where})`
    : `no redisUsers entry matches (at ${d.rule?.where ?? '?'})`;
}
