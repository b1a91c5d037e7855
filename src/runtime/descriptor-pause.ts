// Stop accepting before the descriptor limit (RLIMIT_NOFILE), and again whenever a dial meets
// EMFILE/ENFILE, instead of accepting connections that cannot be served. At EMFILE, libuv's accept
// takes pending connections and closes them without telling Node (its "EMFILE trick"), and a dial
// that cannot get a socket fails after an accept, an admission and an audit line; HAProxy instead
// stops polling a listener that reaches the process's limit, and so does this. Node cannot stop
// polling a listening socket, so a paused process closes its listeners (new clients are refused at
// once, or, with workers, handed to the others) and listens again once enough connections ended.
import diagnostics from 'node:diagnostics_channel';
import fs from 'node:fs';
import type { Logger } from 'pino';

/** Published by the pipeline when a dial fails for want of descriptors. */
export const descriptorsExhausted = diagnostics.channel('gatehouse:descriptors-exhausted');

export function isExhaustion(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  return code === 'EMFILE' || code === 'ENFILE';
}

/** The soft RLIMIT_NOFILE of this process (Linux: /proc/self/limits), or Infinity where unknown. */
export function descriptorLimit(): number {
  try {
    const line = fs
      .readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const soft = line?.trim().split(/\s+/)[3];
    return soft && /^\d+$/.test(soft) ? Number(soft) : Infinity;
  } catch {
    return Infinity;
  }
}

function openDescriptors(): number {
  try {
    return fs.readdirSync('/proc/self/fd').length;
  } catch {
    return 0;
  }
}

const CHECK_MS = 250;
/** Every accepted connection is counted as this many descriptors (client and target). */
const PER_CONNECTION = 2;

export class DescriptorPause {
  /** Accepted connections still open. */
  private open = 0;
  /** Connections (counted as PER_CONNECTION descriptors each) at which accepting pauses. */
  private readonly ceiling: number;
  private timer: NodeJS.Timeout | undefined;
  private resuming = false;
  private heldAtPause = 0;
  /** Times this process paused accepting. */
  pauses = 0;
  /** Told of every pause (the runtime counts them in its metrics). */
  onPause: (() => void) | undefined;
  private readonly onChannel = () => this.pause('a dial met EMFILE');
  private readonly closed = () => this.open--;

  constructor(
    private readonly log: Logger,
    private readonly stopAccepting: () => void,
    /** Listen again; false when that failed (still no descriptors). */
    private readonly startAccepting: () => Promise<boolean>,
    limit = descriptorLimit(),
  ) {
    // What the process holds besides connections (files, logs, the IPC channel, listeners to
    // come), and a reserve for what sessions open besides their two sockets (DNS, upstream pools).
    const base = openDescriptors() + 16;
    const reserve = Math.max(16, Math.floor(limit / 64));
    this.ceiling = Math.max(1, Math.floor((limit - base - reserve) / PER_CONNECTION));
    descriptorsExhausted.subscribe(this.onChannel);
  }

  get paused(): boolean {
    return this.timer !== undefined;
  }

  /** A connection was accepted: counted until it closes; at the ceiling, accepting pauses. */
  accepted(socket: { once(event: 'close', listener: () => void): unknown }): void {
    this.open++;
    socket.once('close', this.closed);
    if (this.open >= this.ceiling) this.pause('at the descriptor limit');
  }

  pause(why: string): void {
    if (this.timer) return;
    this.pauses++;
    this.onPause?.();
    this.heldAtPause = this.open;
    this.stopAccepting();
    this.log.warn(
      { connections: this.open, ceiling: this.ceiling, pauses: this.pauses, why },
      'descriptors exhausted (EMFILE): stopped accepting until connections end; raise the limit (ulimit -n, LimitNOFILE) if this recurs',
    );
    // Not unref'd: with every listener closed, this timer is what keeps the process up.
    this.timer = setInterval(() => void this.check(), CHECK_MS);
  }

  private async check(): Promise<void> {
    if (this.resuming) return;
    // A tenth of what was held at the pause has ended (and the process is under its ceiling).
    const wanted = Math.min(
      this.heldAtPause - Math.max(1, Math.floor(this.heldAtPause / 10)),
      this.ceiling - 1,
    );
    if (this.open > wanted && this.open > 0) return;
    this.resuming = true;
    try {
      if (!(await this.startAccepting())) return;
      this.stop();
      this.log.info({ connections: this.open }, 'descriptors free again: accepting');
    } finally {
      this.resuming = false;
    }
  }

  private stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  close(): void {
    this.stop();
    descriptorsExhausted.unsubscribe(this.onChannel);
  }
}
