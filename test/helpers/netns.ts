// Test hosts as Linux network namespaces joined by veth pairs, so source addresses, private
// networks and "outside" clients are real. Everything made here is removed by destroy().
// Needs root (CI runs as root); tests skip themselves elsewhere.
import { execFileSync } from 'node:child_process';

export const canUseNetns =
  process.getuid?.() === 0 &&
  (() => {
    try {
      execFileSync('ip', ['netns', 'list'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  })();

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

export class Lab {
  private readonly namespaces: string[] = [];
  private links = 0;
  /** Short unique prefix: interface names are limited to 15 characters. */
  readonly prefix = `gh${(process.pid % 10000).toString(36)}${Math.floor(Math.random() * 36 ** 2).toString(36)}`;

  /** A new namespace with loopback up; returns its name. */
  host(name: string): string {
    const ns = `${this.prefix}-${name}`;
    ip('netns', 'add', ns);
    this.namespaces.push(ns);
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    return ns;
  }

  /**
   * A point-to-point link: `aAddr` (CIDR) on a's end, `bAddr` on b's, each with a host route to
   * the other end, so no namespace gets a default route (nothing can leave the lab).
   */
  link(a: string, aAddr: string, b: string, bAddr: string): void {
    const n = this.links++;
    const ea = `${this.prefix}a${n}`;
    const eb = `${this.prefix}b${n}`;
    ip('link', 'add', ea, 'netns', a, 'type', 'veth', 'peer', 'name', eb, 'netns', b);
    for (const [ns, dev, addr, peer] of [
      [a, ea, aAddr, bAddr],
      [b, eb, bAddr, aAddr],
    ] as const) {
      ip('-n', ns, 'addr', 'add', addr, 'dev', dev);
      ip('-n', ns, 'link', 'set', dev, 'up');
      const peerIp = peer.split('/')[0]!;
      const v6 = peerIp.includes(':');
      // /32 (or /128) addresses give no connected route: add the host route to the peer.
      if (addr.endsWith(v6 ? '/128' : '/32'))
        ip('-n', ns, ...(v6 ? ['-6'] : []), 'route', 'add', peerIp, 'dev', dev);
    }
  }

  /** Put an extra address on a namespace's loopback (for canaries and extra sources). */
  addAddress(ns: string, cidr: string): void {
    ip('-n', ns, 'addr', 'add', cidr, 'dev', 'lo');
  }

  destroy(): void {
    for (const ns of this.namespaces.splice(0)) {
      try {
        ip('netns', 'del', ns);
      } catch {
        /* already gone */
      }
    }
  }
}

/** Run a command in a namespace until it succeeds or the deadline passes. */
export async function waitInNetns(ns: string, cmd: string[], timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      execFileSync('ip', ['netns', 'exec', ns, ...cmd], { stdio: 'ignore', timeout: 2000 });
      return;
    } catch (err) {
      if (Date.now() > deadline)
        throw new Error(`${cmd.join(' ')} in ${ns} did not succeed within ${timeoutMs} ms`, { cause: err });
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

export interface GatewayLab {
  readonly gw: string;
  /** Outside client at 198.51.100.27. */
  readonly a: string;
  /** Outside client at 198.51.100.28. */
  readonly b: string;
  /** Private network host at 10.0.1.231, reachable only from gw (10.0.1.1). */
  readonly priv: string;
}

/**
 * The gateway topology the port-forward tests share:
 *   a 198.51.100.27 ─┐
 *                    ├─ gw 198.51.100.1 ── 10.0.1.1/24 ── priv 10.0.1.231
 *   b 198.51.100.28 ─┘
 */
export function gatewayLab(lab: Lab): GatewayLab {
  const gw = lab.host('gw');
  const a = lab.host('a');
  const b = lab.host('b');
  const priv = lab.host('priv');
  lab.link(gw, '198.51.100.1/32', a, '198.51.100.27/32');
  lab.link(gw, '198.51.100.1/32', b, '198.51.100.28/32');
  lab.link(gw, '10.0.1.1/24', priv, '10.0.1.231/24');
  return { gw, a, b, priv };
}
