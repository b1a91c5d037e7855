// Audit events: one canonical JSON line per decision and per session end. Field names are the
// interface (log shippers and the audit store key on them), so they are constants here.
import diagnostics from 'node:diagnostics_channel';

export const AuditField = {
  time: 'time',
  event: 'event',
  session: 'session',
  face: 'face',
  listener: 'listener',
  source: 'source',
  via: 'via',
  local: 'local',
  target: 'target',
  identity: 'identity',
  allowed: 'allowed',
  reason: 'reason',
  rule: 'rule',
  where: 'where',
  bytesFromClient: 'bytesFromClient',
  bytesToClient: 'bytesToClient',
  durationMs: 'durationMs',
  error: 'error',
  // The access endpoints' connection log (AWS Client VPN's, in our names).
  endpoint: 'endpoint',
  clientIp: 'clientIp',
  clientPort: 'clientPort',
  connectionId: 'connectionId',
  commonName: 'commonName',
  serial: 'serial',
  groups: 'groups',
  status: 'status',
  startTime: 'startTime',
  endTime: 'endTime',
  // Logins through an OpenID provider.
  subject: 'subject',
  notAfter: 'notAfter',
  // The Redis user Gatehouse logged in as for the client (direct listeners with redisUsers).
  redisUser: 'redisUser',
} as const;

export type AuditEventName = 'accepted' | 'denied' | 'dialed' | 'dial_failed' | 'closed' | 'login';

export interface AuditEvent {
  readonly time: string;
  readonly event: AuditEventName;
  readonly session?: string;
  readonly face: string;
  readonly listener: string;
  readonly source: string;
  /** The load balancer that relayed the connection (PROXY protocol), when one did. */
  readonly via?: string;
  readonly local?: string;
  readonly target?: string;
  readonly identity?: string;
  readonly allowed?: boolean;
  /** Why: a decision reason, a dial error code, or a close reason. */
  readonly reason?: string;
  readonly rule?: string;
  readonly where?: string;
  readonly bytesFromClient?: number;
  readonly bytesToClient?: number;
  readonly durationMs?: number;
  readonly error?: string;
  /** Access endpoint name (connection log). */
  readonly endpoint?: string;
  readonly clientIp?: string;
  readonly clientPort?: number;
  /** The client connection a target session of an access endpoint rides on. */
  readonly connectionId?: string;
  readonly commonName?: string;
  /** Client certificate serial (upper-case hex). */
  readonly serial?: string;
  /** The client's groups, as its certificate names them. */
  readonly groups?: readonly string[];
  /** Connection-log status: succeeded, failed, closed. */
  readonly status?: 'succeeded' | 'failed' | 'closed';
  readonly startTime?: string;
  readonly endTime?: string;
  /** A login: the provider's subject (`sub`) of the user. */
  readonly subject?: string;
  /** A login: when the certificate it issued expires (ISO time). */
  readonly notAfter?: string;
  /** The Redis user the node connections of this session log in as (`redisUsers`). */
  readonly redisUser?: string;
}

/** An event before the audit stamps its time: what faces build. */
export type AuditEventInput = Omit<AuditEvent, 'time'>;

// Every field of AuditEvent is named in AuditField and nothing else is: a new field that is not
// added to both fails to compile here.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const fieldsNamed: Same<keyof AuditEvent, keyof typeof AuditField> = true;
void fieldsNamed;

export interface AuditSink {
  write(event: AuditEvent): void;
  close(): Promise<void>;
}

/** Published on every audit event, for in-process observers (tests, metrics, the console). */
export const auditChannel = diagnostics.channel('gatehouse:audit');

export class Audit {
  private sinks: AuditSink[] = [];

  addSink(sink: AuditSink): void {
    this.sinks.push(sink);
  }

  private lastMs = 0;
  private lastIso = '';

  /** The ISO time, formatted at most once a millisecond (busy proxies log many events per ms). */
  now(): string {
    const ms = Date.now();
    if (ms !== this.lastMs) {
      this.lastMs = ms;
      this.lastIso = new Date(ms).toISOString();
    }
    return this.lastIso;
  }

  emit(event: AuditEventInput): void {
    this.record({ time: this.now(), ...event });
  }

  /**
   * An event that already carries its time (from now()). For per-request paths: the caller builds
   * the event once, in one shape, and nothing copies it (a spread copy measured about 1% of a busy
   * proxy's CPU).
   */
  record(event: AuditEvent): void {
    for (const sink of this.sinks) sink.write(event);
    if (auditChannel.hasSubscribers) auditChannel.publish(event);
  }

  async close(): Promise<void> {
    const sinks = this.sinks;
    this.sinks = [];
    await Promise.all(sinks.map((s) => s.close()));
  }
}
