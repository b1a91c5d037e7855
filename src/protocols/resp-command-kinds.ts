// The commands the command tracker (resp-command-tracker.ts) tells apart, the kind of reply each
// expects, and how their replies are counted.
//
// Reply accounting, as redis-server 7 writes replies (src/pubsub.c, src/multi.c, src/networking.c):
// - RESP3 push frames (`>`) never answer a command, except pub/sub confirmations (subscribe,
//   unsubscribe, psubscribe, …) which are counted against the pending (UN)SUBSCRIBE command.
// - RESP2 while subscribed: arrays whose first element is message/pmessage/smessage are
//   out-of-band; confirmation arrays count against the pending (UN)SUBSCRIBE; anything else (the
//   `pong` array, errors) answers the next command. SUBSCRIBE with N channels expects N
//   confirmations; UNSUBSCRIBE with no argument expects one per current subscription (or one when
//   there is none): subscription counts are followed from the confirmations themselves.
// - MULTI: each queued command gets +QUEUED; EXEC answers with one array whose elements follow
//   the queued commands in order (or an error / null), so EXEC carries the kinds it queued.
// - CLIENT REPLY OFF / SKIP: the commands they silence expect nothing.
// - MONITOR, SYNC, PSYNC: after their reply the stream is no longer request/response; the
//   tracker gives up (`lost`) and only position-free rewriting (MOVED/ASK) goes on.
// - A reply with no pending command (e.g. an error before the server closes) is passed over.

export type ReplyKind = 'plain' | 'cluster-slots' | 'cluster-shards' | 'cluster-nodes' | 'cluster-replicas';

export type EntryKind = ReplyKind | 'hello' | 'exec' | 'sub' | 'unsub' | 'reset' | 'lose';

/** One pending command, or a run of `n` plain ones. */
export interface Pending {
  readonly kind: EntryKind;
  /** plain: commands in the run; sub/unsub: confirmations still expected (-1: not yet known). */
  n: number;
  /** hello: the protocol version asked for (NaN when absent). sub/unsub: 0 channel, 1 pattern, 2 shard. */
  readonly arg: number;
  /** exec: the kinds of the queued commands, in order. */
  readonly items: readonly ReplyKind[] | undefined;
}

/** What the frame starting now answers, from the rewriter's point of view. */
export type Expected =
  | { readonly kind: 'plain' | 'cluster-slots' | 'cluster-shards' | 'cluster-nodes' | 'cluster-replicas' }
  | { readonly kind: 'exec'; readonly items: readonly ReplyKind[] };

/** The one `Expected` of each kind but `exec`, so that `expect()` allocates nothing. */
export const EXPECT: Record<ReplyKind, Expected> = {
  plain: Object.freeze({ kind: 'plain' }),
  'cluster-slots': Object.freeze({ kind: 'cluster-slots' }),
  'cluster-shards': Object.freeze({ kind: 'cluster-shards' }),
  'cluster-nodes': Object.freeze({ kind: 'cluster-nodes' }),
  'cluster-replicas': Object.freeze({ kind: 'cluster-replicas' }),
};

/** CLUSTER subcommands whose replies name nodes. */
export const CLUSTER_SUB: Record<string, ReplyKind> = {
  slots: 'cluster-slots',
  shards: 'cluster-shards',
  nodes: 'cluster-nodes',
  replicas: 'cluster-replicas',
  slaves: 'cluster-replicas',
};

/** Pub/sub confirmation kinds: family (0 channel, 1 pattern, 2 shard) and direction. */
export const CONFIRM: Record<string, { family: number; sub: boolean }> = {
  subscribe: { family: 0, sub: true },
  unsubscribe: { family: 0, sub: false },
  psubscribe: { family: 1, sub: true },
  punsubscribe: { family: 1, sub: false },
  ssubscribe: { family: 2, sub: true },
  sunsubscribe: { family: 2, sub: false },
};
/** Pub/sub messages: out-of-band, they answer no command. */
export const MESSAGES = new Set(['message', 'pmessage', 'smessage']);
