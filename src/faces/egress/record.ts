// One record per request or tunnel: the Squid access-log line, the audit event and the request
// metrics, all from the same values, written once when the request ends (smokescreen's one
// canonical log line).
import type { Logger } from 'pino';
import type { Audit } from '../../audit/events.js';
import type { SessionOutcomes } from '../../pipeline/session-outcomes.js';
import type { EgressDecision } from '../../policy/egress-decision.js';
import type { AccessLog, AccessRecord } from './access-log.js';
import type { ProxySettings } from './compile.js';
import type { EgressMetrics } from './metrics.js';
import type { WireReply } from './wire.js';

export type Kind = 'http' | 'connect' | 'upgrade';

const FACE = 'egressProxy';

/** Where records go: the proxy's settings, sinks and metrics at the time of writing. */
export interface RecordSite {
  readonly settings: ProxySettings;
  readonly metrics: EgressMetrics;
  readonly accessLog: AccessLog | undefined;
  readonly log: Logger | undefined;
  readonly audit: Audit | undefined;
  /** The process's session outcomes (gatehouse_sessions_total and the rest). */
  readonly outcomes: SessionOutcomes | undefined;
}

export interface FinishInput {
  start: number;
  client: string;
  /** The load balancer a PROXY header came from (audit only; Squid's line has no field for it). */
  via?: string | undefined;
  method: string;
  url: string;
  reply?: WireReply;
  decision?: EgressDecision;
  user?: string | undefined;
  peer?: string;
  status?: number;
  bytes?: number;
  bytesIn?: number;
  contentType?: string | undefined;
  session?: string;
  closeReason?: string;
}

export function recordRequest(site: RecordSite, kind: Kind, f: FinishInput): void {
  const d = f.decision;
  const status = f.reply?.status ?? f.status ?? 0;
  const denied = f.reply !== undefined && d !== undefined && !d.allowed;
  const reason = f.reply?.reason ?? d?.reason ?? 'unknown';
  const decisionLabel = d?.wouldDeny
    ? 'report_only'
    : denied || (f.reply && !d)
      ? 'denied'
      : d?.allowed
        ? 'allowed'
        : 'error';
  site.metrics.countRequest(site.settings.name, kind, decisionLabel, reason);
  // Allowed requests were counted when their session opened; here, what policy refused and what
  // could not reach its target (a refusal for a bad request was never decided, and is not a session).
  if (denied) site.outcomes?.denied(FACE, site.settings.listener, reason);
  else if (f.reply && reason.startsWith('GH_ERR_DIAL_'))
    site.outcomes?.dialFailed(FACE, site.settings.listener, reason, f.session !== undefined);
  const action =
    denied || status === 407 ? 'TCP_DENIED' : !d ? 'NONE_NONE' : kind === 'http' ? 'TCP_MISS' : 'TCP_TUNNEL';
  // Built field by field, not with conditional spreads: this runs once per request, and an absent
  // field is undefined here (JSON.stringify leaves it out).
  const record: AccessRecord = {
    start: f.start,
    elapsedMs: Date.now() - f.start,
    client: f.client,
    action,
    status,
    bytes: f.reply ? Buffer.byteLength(f.reply.body) : (f.bytes ?? 0),
    method: f.method,
    url: f.url,
    user: f.user,
    hierarchy: f.peer ? 'HIER_DIRECT' : 'HIER_NONE',
    peer: f.peer,
    contentType: f.reply ? 'text/html' : f.contentType,
    reason,
    rule: d?.rule?.text,
    where: d?.rule?.where,
    policy: d?.policy,
    wouldDeny: d?.wouldDeny,
  };
  site.accessLog?.write(record);
  if (d?.wouldDeny)
    site.log?.warn(
      { proxy: site.settings.name, url: f.url, wouldDeny: d.wouldDeny, client: f.client },
      'report-only: would deny',
    );
  const audit = site.audit;
  audit?.record({
    time: audit.now(),
    event: denied ? 'denied' : 'closed',
    session: f.session,
    face: FACE,
    listener: site.settings.listener,
    source: f.client,
    via: f.via,
    target: f.url,
    identity: f.user,
    allowed: d ? d.allowed && !f.reply : false,
    reason: d?.wouldDeny ? `report_only:${d.wouldDeny}` : reason,
    rule: d?.rule?.text,
    where: d?.rule?.where,
    bytesFromClient: f.bytesIn,
    bytesToClient: record.bytes,
    durationMs: record.elapsedMs,
    error: f.reply && !denied ? f.reply.reason : undefined,
  });
}
