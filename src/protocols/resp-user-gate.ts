// The Redis user gate of one client connection: Gatehouse logs in to the node as the Redis user
// the client's identity maps to, and the client can never log in as anyone else.
//
// - Login: before any client byte reaches the node, the gate sends `AUTH user password` and
//   consumes the reply; when the client's first command is `HELLO 2|3` (well formed), it is sent
//   as `HELLO <ver> AUTH user password [SETNAME …]` instead and its reply is the client's answer.
//   Client bytes wait until the login succeeded; a refused login is a failure (the caller closes).
// - The client's own AUTH and HELLO … AUTH never reach the node as the client wrote them. They are
//   replaced in the stream, where they stand, so replies keep their order (pipelines, MULTI,
//   CLIENT REPLY all behave as the server makes them): naming the mapped user (or no user:
//   `AUTH password`), by the same command with Gatehouse's password, which the node answers `+OK`
//   (the client's password is not checked: whatever it is, the connection stays the mapped user);
//   naming anyone else, by `AUTH` with no argument, which the node refuses without side effect
//   (an arity error, which also aborts a MULTI), and whose error the reply side turns into
//   `-WRONGPASS gatehouse: …`.
// - RESET logs a connection out to `default`: it is followed by Gatehouse's AUTH again, whose
//   reply (after the node's `+RESET`) is consumed.
//
// Pure: bytes in, bytes out both ways (`toTarget`, `toClient`); the caller writes them.
import { createRequestFramer, type FramedCommand, type RequestFramer } from './resp-request-framer.js';
import { createRespScanner, FAILED, NEED_MORE, type RespScanner } from './resp-scanner.js';

export interface RedisUserGateOptions {
  /** The Redis user this connection is. */
  readonly user: string;
  /** Its password now (read at each use, so a changed password file takes effect at once). */
  password(): string | undefined;
  /** Client bytes held while the login is under way (default 8 MiB); past it the gate fails. */
  readonly maxHeldBytes?: number;
}

export type GateFailure =
  | { readonly kind: 'login_refused'; readonly serverError: string }
  | { readonly kind: 'no_password' }
  | { readonly kind: 'client_protocol'; readonly message: string }
  | { readonly kind: 'server_protocol'; readonly message: string }
  | { readonly kind: 'too_much_before_login' };

export interface GateStep {
  readonly toTarget: readonly Buffer[];
  readonly toClient: readonly Buffer[];
  /** Set once: the connection must be closed (nothing more passes either way). */
  readonly failure?: GateFailure;
}

export interface RedisUserGate {
  fromClient(chunk: Buffer): GateStep;
  fromTarget(chunk: Buffer): GateStep;
  /** The node closed: reply bytes still held (an incomplete reply), sent as they came. */
  end(): Buffer;
  /** How the login went out: `auth`, `hello` (merged with the client's first HELLO), or not yet. */
  readonly login: 'auth' | 'hello' | undefined;
  readonly loggedIn: boolean;
}

export function createRedisUserGate(options: RedisUserGateOptions): RedisUserGate {
  return new Gate(options);
}

/** A command as multibulk bytes. */
export function encodeCommand(args: readonly (string | Buffer)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`, 'latin1')];
  for (const a of args) {
    const b = typeof a === 'string' ? Buffer.from(a, 'utf8') : a;
    parts.push(Buffer.from(`$${b.length}\r\n`, 'latin1'), b, CRLF);
  }
  return Buffer.concat(parts);
}

/** What the node says to a bare `AUTH` (redis-server and valkey 6 to 8). */
const ARITY_ERROR = /^-ERR wrong number of arguments for 'auth' command/i;
const CRLF = Buffer.from('\r\n', 'latin1');
const EMPTY = Buffer.alloc(0);
const REFUSE = encodeCommand(['AUTH']);
const RESET_OK = '+RESET\r\n';
const MAX_REPLY_HELD = 1024 * 1024;

const P_FIRST = 0; // no command yet
const P_LOGIN = 1; // login sent, reply awaited
const P_RUN = 2;
const P_FAILED = 3;

const T_ERROR = 45; // '-'
const T_BLOBERR = 33; // '!'
const T_SIMPLE = 43; // '+'
const T_PUSH = 62; // '>'

/** The option loop of redis-server's helloCommand: AUTH triples and SETNAME pairs, in order. */
interface HelloParse {
  readonly auths: readonly Buffer[]; // the user of each AUTH option
  /** The arguments with every AUTH option left out, name and version first. */
  readonly rest: readonly Buffer[];
  /** False when the loop stops at an option Redis refuses (the node answers that error). */
  readonly clean: boolean;
}

const optKey = (b: Buffer) => {
  const nul = b.indexOf(0);
  return (nul < 0 ? b : b.subarray(0, nul)).toString('latin1').toLowerCase();
};

function parseHello(args: readonly Buffer[]): HelloParse {
  const auths: Buffer[] = [];
  const rest: Buffer[] = args.slice(0, Math.min(2, args.length));
  for (let j = 2; j < args.length; j++) {
    const more = args.length - 1 - j;
    const opt = optKey(args[j]!);
    if (opt === 'auth' && more >= 2) {
      auths.push(args[j + 1]!);
      j += 2;
    } else if (opt === 'setname' && more >= 1) {
      rest.push(args[j]!, args[j + 1]!);
      j++;
    } else {
      rest.push(...args.slice(j));
      return { auths, rest, clean: false };
    }
  }
  return { auths, rest, clean: true };
}

class Gate implements RedisUserGate {
  private phase = P_FIRST;
  private readonly framer: RequestFramer;
  private readonly userBytes: Buffer;
  private readonly maxHeld: number;
  private firstDecided = false;
  private loginBytes: Buffer | undefined;
  private held: Buffer[] = [];
  private heldBytes = 0;
  private failure: GateFailure | undefined;
  login: 'auth' | 'hello' | undefined;
  // Reply side.
  private readonly sc: RespScanner = createRespScanner();
  private frame: Buffer[] | undefined; // the reply being held back
  private frameBytes = 0;
  private resetsPending = 0; // RESETs sent whose +RESET has not come back
  private dropNext = 0; // replies to Gatehouse's own AUTH after a RESET, to consume

  constructor(private readonly o: RedisUserGateOptions) {
    this.userBytes = Buffer.from(o.user, 'utf8');
    this.maxHeld = o.maxHeldBytes ?? 8 * 1024 * 1024;
    this.framer = createRequestFramer({
      wants: (name) => {
        if (this.phase === P_FIRST && name !== 'hello') this.firstDecided = true;
        return name === 'auth' || name === 'hello' || name === 'reset';
      },
      replace: (cmd) => this.replace(cmd),
    });
  }

  get loggedIn(): boolean {
    return this.phase === P_RUN;
  }

  private fail(f: GateFailure): GateStep {
    this.phase = P_FAILED;
    this.failure ??= f;
    this.held = [];
    return { toTarget: [], toClient: [], failure: this.failure };
  }

  private authCommand(): Buffer | undefined {
    const pw = this.o.password();
    return pw === undefined ? undefined : encodeCommand(['AUTH', this.userBytes, pw]);
  }

  private replace(cmd: FramedCommand): Buffer {
    const name = optKey(cmd.args[0]!);
    // Only the very first command may become the login (several may arrive in one chunk).
    const first = this.phase === P_FIRST && !this.firstDecided;
    if (this.phase === P_FIRST) this.firstDecided = true;
    const pw = this.o.password() ?? '';
    if (name === 'auth') {
      const n = cmd.args.length;
      if (n === 2 || (n === 3 && cmd.args[1]!.equals(this.userBytes)))
        return encodeCommand(['AUTH', this.userBytes, pw]);
      return REFUSE;
    }
    if (name === 'reset') {
      if (cmd.args.length !== 1) return cmd.raw; // an arity error: nothing is reset
      this.resetsPending++;
      return Buffer.concat([cmd.raw, encodeCommand(['AUTH', this.userBytes, pw])]);
    }
    // HELLO
    const hello = parseHello(cmd.args);
    if (hello.auths.some((u) => !u.equals(this.userBytes))) return REFUSE;
    const ver = cmd.args[1]?.toString('latin1');
    if (first && hello.clean && (ver === '2' || ver === '3')) {
      this.loginBytes = encodeCommand([
        ...hello.rest.slice(0, 2),
        'AUTH',
        this.userBytes,
        pw,
        ...hello.rest.slice(2),
      ]);
      return EMPTY;
    }
    if (hello.auths.length === 0) return cmd.raw;
    // AUTH options naming the mapped user: the node re-checks Gatehouse's password, not the client's.
    return encodeCommand([...hello.rest.slice(0, 2), 'AUTH', this.userBytes, pw, ...hello.rest.slice(2)]);
  }

  fromClient(chunk: Buffer): GateStep {
    if (this.phase === P_FAILED) return { toTarget: [], toClient: [] };
    const out = this.framer.feed(chunk);
    if (this.framer.error !== undefined)
      return this.fail({ kind: 'client_protocol', message: this.framer.error });
    if (this.phase === P_RUN) return { toTarget: out, toClient: [] };
    if (this.phase === P_FIRST && (this.firstDecided || out.length > 0)) {
      const login = this.loginBytes ?? this.authCommand();
      if (login === undefined || this.o.password() === undefined) return this.fail({ kind: 'no_password' });
      this.login = this.loginBytes ? 'hello' : 'auth';
      this.phase = P_LOGIN;
      this.hold(out);
      return this.failure ? this.fail(this.failure) : { toTarget: [login], toClient: [] };
    }
    this.hold(out);
    return this.failure ? this.fail(this.failure) : { toTarget: [], toClient: [] };
  }

  private hold(pieces: readonly Buffer[]): void {
    for (const p of pieces) {
      if (p.length === 0) continue;
      this.heldBytes += p.length;
      this.held.push(p);
    }
    if (this.heldBytes > this.maxHeld) this.failure ??= { kind: 'too_much_before_login' };
  }

  fromTarget(chunk: Buffer): GateStep {
    if (this.phase === P_FAILED) return { toTarget: [], toClient: [] };
    // Nothing was sent yet: whatever the node says (a refusal before it closes) goes on as it is.
    if (this.phase === P_FIRST) return { toTarget: [], toClient: [chunk] };
    const toClient: Buffer[] = [];
    let toTarget: Buffer[] = [];
    const sc = this.sc;
    const n = chunk.length;
    let pos = 0;
    let emitFrom = 0;
    while (pos < n) {
      if (this.frame === undefined && !sc.inFrame) {
        if (this.phase === P_RUN && this.resetsPending === 0 && this.dropNext === 0) {
          // Fast path: replies that need nothing, up to the next error or push.
          const r = sc.scanRun(chunk, pos, Infinity);
          if (r === FAILED) return this.fail({ kind: 'server_protocol', message: sc.error!.message });
          if (r !== pos) {
            pos = r;
            continue;
          }
        }
        const t = chunk[pos]!;
        const hold =
          this.phase === P_LOGIN ||
          t === T_ERROR ||
          (this.dropNext > 0 && t !== T_PUSH) ||
          (this.resetsPending > 0 && t === T_SIMPLE);
        if (hold) {
          if (pos > emitFrom) toClient.push(chunk.subarray(emitFrom, pos));
          emitFrom = pos;
          this.frame = [];
          this.frameBytes = 0;
        }
      }
      const end = sc.scan(chunk, pos);
      if (end === FAILED) return this.fail({ kind: 'server_protocol', message: sc.error!.message });
      const stop = end === NEED_MORE ? n : end;
      if (this.frame !== undefined) {
        this.frameBytes += stop - pos;
        if (this.frameBytes > MAX_REPLY_HELD)
          return this.fail({ kind: 'server_protocol', message: 'reply too large' });
        this.frame.push(Buffer.from(chunk.subarray(pos, stop)));
        emitFrom = stop;
      }
      pos = stop;
      if (end === NEED_MORE) break;
      if (this.frame !== undefined) {
        const bytes = Buffer.concat(this.frame);
        this.frame = undefined;
        const step = this.replyEnded(bytes, toClient);
        if (step !== undefined) {
          if (step.failure) return step;
          toTarget = [...toTarget, ...step.toTarget];
        }
      }
    }
    if (emitFrom < n) toClient.push(emitFrom === 0 ? chunk : chunk.subarray(emitFrom));
    return { toTarget, toClient };
  }

  /** A held reply ended: answer it (into `toClient`); a step when the login completes or fails. */
  private replyEnded(bytes: Buffer, toClient: Buffer[]): GateStep | undefined {
    const t = bytes[0];
    const isError = t === T_ERROR || t === T_BLOBERR;
    if (this.phase === P_LOGIN) {
      if (isError) return this.fail({ kind: 'login_refused', serverError: errorText(bytes) });
      if (this.login === 'hello') toClient.push(bytes);
      this.phase = P_RUN;
      const released = this.held;
      this.held = [];
      this.heldBytes = 0;
      return { toTarget: released, toClient: [] };
    }
    if (this.dropNext > 0) {
      this.dropNext--;
      if (isError) return this.fail({ kind: 'login_refused', serverError: errorText(bytes) });
      return undefined;
    }
    if (this.resetsPending > 0 && bytes.toString('latin1') === RESET_OK) {
      this.resetsPending--;
      this.dropNext++;
    } else if (t === T_ERROR && ARITY_ERROR.test(bytes.toString('latin1'))) {
      toClient.push(
        Buffer.from(
          `-WRONGPASS gatehouse: this connection is Redis user ${this.o.user}, given by your client certificate; AUTH cannot change it\r\n`,
          'utf8',
        ),
      );
      return undefined;
    }
    toClient.push(bytes);
    return undefined;
  }

  end(): Buffer {
    const f = this.frame;
    this.frame = undefined;
    return f === undefined || f.length === 0 ? EMPTY : Buffer.concat(f);
  }
}

function errorText(bytes: Buffer): string {
  return bytes
    .toString('utf8', 1)
    .replace(/[\r\n]+/g, ' ')
    .trim();
}
