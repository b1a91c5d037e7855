// /etc/hosts as glibc reads it (hosts(5)): "ADDRESS NAME [ALIAS…]" per line, `#` to the end of a
// line is a comment, names are case-insensitive, a name listed twice keeps the order of its lines.
// Pure: text in, a map out. Lines whose address is not an IP are skipped, as glibc skips them.
import ipaddr from 'ipaddr.js';

/** Lower-cased name (no trailing dot) → its addresses in file order. */
function isV4(a: string): boolean {
  return ipaddr.IPv4.isValidFourPartDecimal(a);
}

function isIp(a: string): boolean {
  return isV4(a) || (!a.includes('%') && ipaddr.IPv6.isValid(a));
}

export type HostsTable = ReadonlyMap<string, readonly string[]>;

export function parseHostsFile(text: string): HostsTable {
  const table = new Map<string, string[]>();
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') continue;
    const [address, ...names] = line.split(/\s+/);
    // A zone id (fe80::1%eth0) names an interface: never a proxy's destination.
    if (!address || !isIp(address)) continue;
    for (const n of names) {
      const name = n.toLowerCase().replace(/\.$/, '');
      if (name === '') continue;
      const list = table.get(name);
      if (list) {
        if (!list.includes(address)) list.push(address);
      } else table.set(name, [address]);
    }
  }
  return table;
}

/** The address to dial for `name` from the table: the first IPv4 one, else the first. */
export function hostsAddress(table: HostsTable, name: string): string | undefined {
  const list = table.get(name);
  if (!list) return undefined;
  return list.find(isV4) ?? list[0];
}
