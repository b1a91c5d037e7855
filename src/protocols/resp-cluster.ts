// Node addresses in Redis Cluster replies, rewritten through an address map. Pure: values in,
// values out (undefined = nothing changed). Formats as redis-server 7 writes them (src/cluster.c):
//   -MOVED <slot> <endpoint>:<port>   -ASK <slot> <endpoint>:<port>   (IPv6 without brackets;
//      the endpoint is the IP, the announced hostname, or empty when unknown)
//   CLUSTER SLOTS  [[start, end, node, node…]…], node = [endpoint|null, port, id, {ip?, hostname?}]
//      (the metadata map is a flat array in RESP2, a map in RESP3; absent before 7.0)
//   CLUSTER SHARDS [{slots: […], nodes: [{id, port, tls-port?, ip, endpoint, hostname?, role,
//      replication-offset, health}…]}…]  (maps flat in RESP2)
//   CLUSTER NODES  one text (bulk, or verbatim "txt:" in RESP3), a line per node:
//      <id> <ip>:<port>@<cport>[,<hostname>[,<aux>=<v>…]] <flags> <master> <ping> <pong> <epoch> …
//   CLUSTER REPLICAS / SLAVES  an array of such lines
// A node is looked up by each of its names (endpoint, ip, hostname) with its port, first hit
// wins; every name field of a mapped node then carries the public host, its port the public
// port, its tls-port the mapping of (name, tls-port) when there is one. Unknown endpoints ("?",
// null) stay as they are while the port is rewritten: clients then dial the address they used for
// the gateway with the public port. Bus ports (@cport) are left alone. Unmapped nodes pass.
import type { ReplyKind } from './resp-command-kinds.js';
import type { RespValue } from './resp-value.js';

/** A node's private address to the address clients should use, or undefined to leave it. */
export type AddressMap = (host: string, port: number) => { host: string; port: number } | undefined;

type Mapped = { host: string; port: number };

function parsePort(s: string): number | undefined {
  if (!/^\d{1,5}$/.test(s)) return undefined;
  const p = Number(s);
  return p <= 65535 ? p : undefined;
}

/** Tries each usable name with `port`; with no usable name, asks for ('', port). */
function lookup(
  map: AddressMap,
  names: readonly (string | undefined)[],
  port: number | undefined,
): Mapped | undefined {
  if (port === undefined || port === 0) return undefined;
  let any = false;
  for (const h of names) {
    if (h === undefined || h === '' || h === '?') continue;
    any = true;
    const m = map(h, port);
    if (m) return m;
  }
  return any ? undefined : map('', port);
}

const REDIRECT = /^(MOVED|ASK) (\d{1,5}) (.*):(\d{1,5})$/s;

/** `MOVED 3999 10.0.1.5:6379` (an error's text, without `-`) rewritten, or undefined. */
export function rewriteRedirect(text: string, map: AddressMap): string | undefined {
  const m = REDIRECT.exec(text);
  if (!m) return undefined;
  const slot = Number(m[2]);
  const port = parsePort(m[4]!);
  if (slot > 16383 || port === undefined) return undefined;
  const to = lookup(map, [m[3]], port);
  return to ? `${m[1]} ${m[2]} ${to.host}:${to.port}` : undefined;
}

/** One CLUSTER NODES line rewritten, or undefined. */
export function rewriteNodeLine(line: string, map: AddressMap): string | undefined {
  const a = line.indexOf(' ');
  const b = a < 0 ? -1 : line.indexOf(' ', a + 1);
  if (b < 0) return undefined;
  const addr = line.slice(a + 1, b);
  const at = addr.indexOf('@');
  const hostPort = at < 0 ? addr : addr.slice(0, at);
  const colon = hostPort.lastIndexOf(':');
  if (colon < 0) return undefined;
  const host = hostPort.slice(0, colon);
  const port = parsePort(hostPort.slice(colon + 1));
  const extras = at < 0 ? [] : addr.slice(at + 1).split(',');
  // extras: cport, then an optional hostname, then key=value aux fields (7.2+ shows some).
  const hostname = extras.length > 1 && !extras[1]!.includes('=') ? extras[1] : undefined;
  const to = lookup(map, [host, hostname], port);
  if (!to) return undefined;
  const out = extras.map((f, i) => {
    if (i === 1 && hostname !== undefined && hostname !== '') return to.host;
    const eq = f.indexOf('=');
    if (i > 0 && eq > 0 && f.slice(0, eq) === 'tls-port') {
      const tls = lookup(map, [host, hostname], parsePort(f.slice(eq + 1)));
      return tls ? `tls-port=${tls.port}` : f;
    }
    return f;
  });
  const newAddr = `${to.host}:${to.port}` + (at < 0 ? '' : `@${out.join(',')}`);
  return line.slice(0, a + 1) + newAddr + line.slice(b);
}

/** A CLUSTER NODES text (lines ending in \n) rewritten, or undefined. */
export function rewriteNodesText(text: string, map: AddressMap): string | undefined {
  let changed = false;
  const lines = text.split('\n').map((l) => {
    const r = rewriteNodeLine(l, map);
    if (r === undefined) return l;
    changed = true;
    return r;
  });
  return changed ? lines.join('\n') : undefined;
}

const bulk = (s: string): RespValue => ({ type: 'bulk', bytes: Buffer.from(s, 'latin1') });
const integer = (n: number): RespValue => ({ type: 'integer', text: String(n) });

function str(v: RespValue | undefined): string | undefined {
  if (v === undefined) return undefined;
  if (v.type === 'bulk') return v.bytes === null ? undefined : v.bytes.toString('latin1');
  if (v.type === 'simple') return v.text;
  return undefined;
}

function int(v: RespValue | undefined): number | undefined {
  if (v === undefined || v.type !== 'integer' || !/^\d{1,5}$/.test(v.text)) return undefined;
  return parsePort(v.text);
}

/** Key/value items of a map, or of a RESP2 array standing for one. */
function pairs(v: RespValue | undefined): readonly RespValue[] | undefined {
  if (v === undefined) return undefined;
  if (v.type === 'map') return v.items;
  if (v.type === 'array' && v.items !== null && v.items.length % 2 === 0) return v.items;
  return undefined;
}

function items(v: RespValue | undefined): readonly RespValue[] | undefined {
  if (v === undefined || (v.type !== 'array' && v.type !== 'set') || v.items === null) return undefined;
  return v.items;
}

function withItems(v: RespValue, list: RespValue[]): RespValue {
  return { ...v, items: list } as RespValue;
}

function get(kv: readonly RespValue[], key: string): RespValue | undefined {
  for (let i = 0; i + 1 < kv.length; i += 2) if (str(kv[i]) === key) return kv[i + 1];
  return undefined;
}

/** Replaces values of `keys` in a flat key/value list. */
function setKeys(kv: readonly RespValue[], edits: Record<string, RespValue | undefined>): RespValue[] {
  const out = kv.slice();
  for (let i = 0; i + 1 < out.length; i += 2) {
    const k = str(out[i]);
    const e = k === undefined ? undefined : edits[k];
    if (e !== undefined) out[i + 1] = e;
  }
  return out;
}

/** [endpoint, port, id, metadata?] */
function rewriteSlotsNode(node: RespValue, map: AddressMap): RespValue | undefined {
  const list = items(node);
  if (list === undefined || list.length < 2) return undefined;
  const endpoint = str(list[0]);
  const port = int(list[1]);
  const meta = list.length > 3 ? pairs(list[3]) : undefined;
  const ip = meta ? str(get(meta, 'ip')) : undefined;
  const hostname = meta ? str(get(meta, 'hostname')) : undefined;
  const to = lookup(map, [endpoint, ip, hostname], port);
  if (!to) return undefined;
  const out = list.slice();
  if (endpoint !== undefined && endpoint !== '' && endpoint !== '?') out[0] = bulk(to.host);
  out[1] = integer(to.port);
  if (meta) {
    const edits: Record<string, RespValue | undefined> = {};
    if (ip !== undefined) edits.ip = bulk(to.host);
    if (hostname !== undefined && hostname !== '') edits.hostname = bulk(to.host);
    out[3] = withItems(list[3]!, setKeys(meta, edits));
  }
  return withItems(node, out);
}

function rewriteSlots(v: RespValue, map: AddressMap): RespValue | undefined {
  const ranges = items(v);
  if (ranges === undefined) return undefined;
  let changed = false;
  const out = ranges.map((range) => {
    const r = items(range);
    if (r === undefined || r.length < 3) return range;
    let rc = false;
    const nodes = r.map((n, i) => {
      if (i < 2) return n;
      const w = rewriteSlotsNode(n, map);
      if (w === undefined) return n;
      rc = true;
      return w;
    });
    if (!rc) return range;
    changed = true;
    return withItems(range, nodes);
  });
  return changed ? withItems(v, out) : undefined;
}

/** {id, port, tls-port?, ip, endpoint, hostname?, …} */
function rewriteShardNode(node: RespValue, map: AddressMap): RespValue | undefined {
  const kv = pairs(node);
  if (kv === undefined) return undefined;
  const ip = str(get(kv, 'ip'));
  const endpoint = str(get(kv, 'endpoint'));
  const hostname = str(get(kv, 'hostname'));
  const names = [ip, endpoint, hostname];
  const plain = lookup(map, names, int(get(kv, 'port')));
  const tls = lookup(map, names, int(get(kv, 'tls-port')));
  const host = (plain ?? tls)?.host;
  if (host === undefined) return undefined;
  const edits: Record<string, RespValue | undefined> = {};
  if (ip !== undefined) edits.ip = bulk(host);
  if (endpoint !== undefined && endpoint !== '' && endpoint !== '?') edits.endpoint = bulk(host);
  if (hostname !== undefined && hostname !== '') edits.hostname = bulk(host);
  if (plain) edits.port = integer(plain.port);
  if (tls) edits['tls-port'] = integer(tls.port);
  return withItems(node, setKeys(kv, edits));
}

function rewriteShards(v: RespValue, map: AddressMap): RespValue | undefined {
  const shards = items(v);
  if (shards === undefined) return undefined;
  let changed = false;
  const out = shards.map((shard) => {
    const kv = pairs(shard);
    const nodesValue = kv ? get(kv, 'nodes') : undefined;
    const nodes = items(nodesValue);
    if (kv === undefined || nodes === undefined) return shard;
    let nc = false;
    const rewritten = nodes.map((n) => {
      const w = rewriteShardNode(n, map);
      if (w === undefined) return n;
      nc = true;
      return w;
    });
    if (!nc) return shard;
    changed = true;
    return withItems(shard, setKeys(kv, { nodes: withItems(nodesValue!, rewritten) }));
  });
  return changed ? withItems(v, out) : undefined;
}

/** A bulk or verbatim ("txt:") string of node lines. */
function rewriteNodesValue(v: RespValue, map: AddressMap): RespValue | undefined {
  if (v.type === 'bulk' && v.bytes !== null) {
    const r = rewriteNodesText(v.bytes.toString('latin1'), map);
    return r === undefined ? undefined : { ...v, bytes: Buffer.from(r, 'latin1') };
  }
  if (v.type === 'verbatim' && v.bytes.length >= 4) {
    const r = rewriteNodesText(v.bytes.toString('latin1', 4), map);
    if (r === undefined) return undefined;
    return { ...v, bytes: Buffer.concat([v.bytes.subarray(0, 4), Buffer.from(r, 'latin1')]) };
  }
  return undefined;
}

function rewriteReplicas(v: RespValue, map: AddressMap): RespValue | undefined {
  const list = items(v);
  if (list === undefined) return undefined;
  let changed = false;
  const out = list.map((l) => {
    const w = rewriteNodesValue(l, map);
    if (w === undefined) return l;
    changed = true;
    return w;
  });
  return changed ? withItems(v, out) : undefined;
}

/** An error value whose text is a MOVED/ASK redirect, rewritten. */
function rewriteErrorValue(v: RespValue, map: AddressMap): RespValue | undefined {
  if (v.type !== 'error') return undefined;
  const r = rewriteRedirect(v.text, map);
  return r === undefined ? undefined : { ...v, text: r };
}

/**
 * The reply to a command of `kind` rewritten (undefined: unchanged). For EXEC, `items` gives the
 * kinds of the queued commands; each element of the EXEC array is rewritten by its own kind.
 * MOVED/ASK errors are rewritten wherever they appear at these positions.
 */
export function rewriteClusterReply(
  kind: ReplyKind | 'exec',
  v: RespValue,
  map: AddressMap,
  execItems: readonly ReplyKind[] = [],
): RespValue | undefined {
  if (v.type === 'error') return rewriteErrorValue(v, map);
  switch (kind) {
    case 'cluster-slots':
      return rewriteSlots(v, map);
    case 'cluster-shards':
      return rewriteShards(v, map);
    case 'cluster-nodes':
      return rewriteNodesValue(v, map);
    case 'cluster-replicas':
      return rewriteReplicas(v, map);
    case 'exec': {
      const list = items(v);
      if (list === undefined) return undefined;
      let changed = false;
      const out = list.map((el, i) => {
        const w = rewriteClusterReply(execItems[i] ?? 'plain', el, map);
        if (w === undefined) return el;
        changed = true;
        return w;
      });
      return changed ? withItems(v, out) : undefined;
    }
    default:
      return undefined;
  }
}
