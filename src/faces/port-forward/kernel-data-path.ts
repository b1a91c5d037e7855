// Drives the kernel data path of port forwards: applies the nftables ruleset the plan renders,
// and follows DNATed flows through conntrack events so they are sessions and audit lines like
// any other. If nft fails, nothing is DNATed and every connection takes the userspace relay.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import readline from 'node:readline';
import { promisify } from 'node:util';
import type { AuditEventInput } from '../../audit/events.js';
import { formatHostPort } from '../../net/address.js';
import { parseIp } from '../../net/cidr.js';
import type { ForwardPlanEntry } from '../../policy/forward-plan.js';
import { planKernelForwards, renderNftables, type KernelPlan } from '../../policy/kernel-plan.js';
import { decideIngress } from '../../policy/security-groups.js';
import {
  parseConntrackBytes,
  parseConntrackEvent,
  type ConntrackEvent,
} from '../../protocols/conntrack-events.js';
import type { FaceContext } from '../context.js';
import type { Snapshot } from '../face.js';

const execFileP = promisify(execFile);
const FACE = 'portForward';
const TABLE = 'gatehouse';
const MARK = 0x4748;

interface Flow {
  readonly session: string;
  readonly started: number;
  readonly source: string;
  readonly target: string;
  readonly listener: string;
  readonly ev: ConntrackEvent;
  /** With connectionLog: summary, the admission goes on the closed line (no accepted line). */
  readonly admitted?: Pick<AuditEventInput, 'allowed' | 'rule' | 'where'>;
}

function runNft(ruleset: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const nft = spawn('nft', ['-f', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    nft.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    nft.on('error', reject);
    nft.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(stderr.trim() || `nft exited ${code}`)),
    );
    nft.stdin.end(ruleset);
  });
}

function tupleArgs(ev: ConntrackEvent): string[] {
  return ['-p', 'tcp', '-s', ev.src, '-d', ev.dst, '--sport', String(ev.sport), '--dport', String(ev.dport)];
}

/** What the kernel data path uses of the runtime: it runs once per host, beside the faces. */
export type KernelContext = Pick<FaceContext, 'policy' | 'audit' | 'sessions' | 'log'>;

export class KernelDataPath {
  private monitor: ChildProcess | undefined;
  private installed = false;
  private ctx: KernelContext | undefined;
  private byPort = new Map<number, ForwardPlanEntry>();
  private readonly flows = new Map<string, Flow>();

  async apply(
    snapshot: Snapshot,
    entries: readonly ForwardPlanEntry[],
    ctx: KernelContext,
    clusterNode: (entry: ForwardPlanEntry) => { host: string; port: number } | undefined,
  ): Promise<KernelPlan> {
    this.ctx = ctx;
    const plan = planKernelForwards(snapshot.loaded.config, snapshot.policy, entries, clusterNode);
    this.byPort = new Map(entries.map((e) => [e.bind.port, e]));
    for (const s of plan.skipped) ctx.log.warn({ bind: s.bind }, `kernel data path: ${s.reason}`);
    if (plan.rules.length === 0) {
      await this.remove();
      return plan;
    }
    // Byte counts per flow need conntrack accounting; best effort (absent outside Linux or root).
    fs.promises.writeFile('/proc/sys/net/netfilter/nf_conntrack_acct', '1').catch(() => {});
    try {
      await runNft(renderNftables(plan, { table: TABLE, mark: MARK }));
      this.installed = true;
    } catch (err) {
      ctx.log.error(
        { err: (err as Error).message },
        'kernel data path: nft failed; these forwards are relayed in userspace (needs root and the nftables package)',
      );
      return plan;
    }
    const forwarding = await fs.promises.readFile('/proc/sys/net/ipv4/ip_forward', 'utf8').catch(() => '0');
    if (forwarding.trim() !== '1' && plan.rules.some((r) => !r.target.host.startsWith('127.'))) {
      ctx.log.warn(
        'kernel data path: net.ipv4.ip_forward is 0, so remote clients cannot be forwarded to other hosts; set it to 1',
      );
    }
    this.startMonitor();
    ctx.log.info({ rules: plan.rules.length }, 'kernel data path: nftables rules in force');
    return plan;
  }

  private startMonitor(): void {
    if (this.monitor) return;
    const child = spawn(
      'conntrack',
      ['-E', '-e', 'NEW,UPDATE,DESTROY', '-p', 'tcp', '--mark', String(MARK), '-o', 'id'],
      {
        stdio: ['ignore', 'pipe', 'ignore'],
      },
    );
    this.monitor = child;
    child.on('error', (err) =>
      this.ctx?.log.warn(
        { err: err.message },
        'kernel data path: no conntrack tool; sessions are not followed',
      ),
    );
    child.on('exit', () => {
      if (this.monitor === child) this.monitor = undefined;
    });
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      const ev = parseConntrackEvent(line);
      if (ev) this.onEvent(ev);
    });
  }

  private onEvent(ev: ConntrackEvent): void {
    const ctx = this.ctx;
    if (!ctx) return;
    const known = this.flows.get(ev.id);
    if (ev.type === 'NEW' && !known) {
      const entry = this.byPort.get(ev.dport);
      const source = formatHostPort(ev.src, ev.sport);
      const target = ev.replySrc && ev.replySport ? formatHostPort(ev.replySrc, ev.replySport) : '?';
      const listener = `${entry?.name ?? '?'}@${formatHostPort(ev.dst, ev.dport)}`;
      const ip = parseIp(ev.src);
      const d = entry && ip ? decideIngress(ctx.policy, entry.groups, ip, ev.dport) : undefined;
      const summary = entry?.connectionLog === 'summary';
      const admitted = { allowed: true, ...(d?.rule ? { rule: d.rule.text, where: d.rule.where } : {}) };
      const flow: Flow = {
        session: `k${ev.id}`,
        started: Date.now(),
        source,
        target,
        listener,
        ev,
        ...(summary ? { admitted } : {}),
      };
      this.flows.set(ev.id, flow);
      if (!summary)
        ctx.audit.emit({
          event: 'accepted',
          session: flow.session,
          face: FACE,
          listener,
          source,
          target,
          allowed: true,
          reason: d?.reason ?? 'kernel',
          ...(d?.rule ? { rule: d.rule.text, where: d.rule.where } : {}),
        });
      ctx.sessions.add({
        id: flow.session,
        face: FACE,
        listener,
        source,
        target,
        identity: undefined,
        startedAt: new Date(flow.started),
        bytesFromClient: 0,
        bytesToClient: 0,
        close: () => void this.terminate(flow),
      });
      return;
    }
    if (known && (ev.type === 'DESTROY' || ev.state === 'TIME_WAIT' || ev.state === 'CLOSE')) {
      this.flows.delete(ev.id);
      void this.finish(known, ev.state === 'CLOSE' ? 'target_closed' : 'client_closed');
    }
  }

  private async finish(flow: Flow, reason: string): Promise<void> {
    const ctx = this.ctx!;
    ctx.sessions.remove(flow.session);
    let bytes: [number, number] | undefined;
    try {
      const { stdout } = await execFileP('conntrack', ['-G', ...tupleArgs(flow.ev)]);
      bytes = parseConntrackBytes(stdout);
    } catch {
      bytes = undefined; // already gone: the close is still logged, without byte counts
    }
    ctx.audit.emit({
      event: 'closed',
      session: flow.session,
      face: FACE,
      listener: flow.listener,
      source: flow.source,
      target: flow.target,
      ...flow.admitted,
      reason,
      ...(bytes ? { bytesFromClient: bytes[0], bytesToClient: bytes[1] } : {}),
      durationMs: Date.now() - flow.started,
    });
  }

  /** Forget the flow in conntrack: its next packet is not translated and meets a reset. */
  private async terminate(flow: Flow): Promise<void> {
    this.flows.delete(flow.ev.id);
    await this.finish(flow, 'terminated');
    await execFileP('conntrack', ['-D', ...tupleArgs(flow.ev)]).catch(() => {});
  }

  private async remove(): Promise<void> {
    if (!this.installed) return;
    this.installed = false;
    await runNft(`delete table ip ${TABLE}\n`).catch(() => {});
  }

  async shutdown(): Promise<void> {
    this.monitor?.kill();
    this.monitor = undefined;
    await this.remove();
  }
}
