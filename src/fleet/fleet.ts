// A replica of a fleet (`fleet: { postgres, replicaId }`): the same seams as workers, over
// PostgreSQL instead of in-host messages. Audit events of every replica go to one table (through a
// bounded spool), live sessions are rows with a heartbeat, terminations and CRLs cross through the
// database with LISTEN/NOTIFY as a wake-up hint and polling behind it. The database is never on a
// relay's path: when it is away, sessions carry on and every replica decides alone.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import { Counter, Gauge, Registry } from 'prom-client';
import type { LogReopenReport } from '../audit/log-files.js';
import type { LoadedConfig } from '../config/load.js';
import type { AdminRuntime, ListedSession, ReloadOutcome, RuntimeInspection } from '../runtime/admin-view.js';
import { PgAuditStore } from './audit-store.js';
import { CrlExchange } from './crl-exchange.js';
import { FleetDb, redactUrl } from './db.js';
import { FleetPortMaps } from './port-maps.js';
import type { Host } from '../runtime/host.js';
import { SessionDirectory } from './session-directory.js';

export class Fleet {
  readonly replica: string;
  readonly db: FleetDb;
  readonly audit: PgAuditStore;
  private readonly ports: FleetPortMaps;
  readonly registry = new Registry();
  private readonly boot = randomBytes(6).toString('hex');
  private sessions: SessionDirectory | undefined;
  private crl: CrlExchange | undefined;
  private readonly url: string;

  constructor(
    loaded: LoadedConfig,
    private readonly log: Logger,
  ) {
    const cfg = loaded.config.fleet!;
    this.url = cfg.postgres;
    this.replica = cfg.replicaId ?? os.hostname();
    const password = cfg.passwordFile
      ? fs.readFileSync(path.resolve(loaded.baseDir, cfg.passwordFile), 'utf8').trim()
      : undefined;
    this.db = new FleetDb(cfg.postgres, password, log);
    this.audit = new PgAuditStore(this.db, this.replica, cfg.postgres, log);
    this.ports = new FleetPortMaps(this.db, this.replica, log);
    const db = this.db;
    const audit = this.audit;
    new Gauge({
      name: 'gatehouse_fleet_up',
      help: 'Whether this replica reaches the fleet database (1) or not (0)',
      registers: [this.registry],
      collect() {
        this.set(db.up ? 1 : 0);
      },
    });
    new Counter({
      name: 'gatehouse_fleet_outages_total',
      help: 'Times this replica lost the fleet database',
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc(db.outages);
      },
    });
    new Gauge({
      name: 'gatehouse_fleet_audit_spooled',
      help: 'Audit events waiting to be written to the fleet database',
      registers: [this.registry],
      collect() {
        this.set(audit.spooled);
      },
    });
    new Counter({
      name: 'gatehouse_fleet_audit_dropped_total',
      help: 'Audit events dropped because the spool was full while the database was away',
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc(audit.dropped);
      },
    });
  }

  /**
   * Connect first (before the daemon applies its first config), so the cluster port maps it
   * computes start from what the fleet already gave each node. Resolves after the first attempt:
   * a database that is down never holds the daemon back.
   */
  async connect(host: Host): Promise<void> {
    this.log.info({ replica: this.replica, postgres: redactUrl(this.url) }, 'fleet: joining');
    host.nodePorts.shareWith(this.ports);
    this.ports.onChange = () => host.sharedPortsChanged();
    await this.db.start();
    await this.ports.load();
    this.ports.start();
  }

  /**
   * Start syncing `local` (the daemon: the Runtime of one process, or the primary of workers) and
   * this PKI's CRL. Resolves after the first connection attempt; the daemon never waits for more.
   */
  start(local: AdminRuntime, pkiDir: string): void {
    this.sessions = new SessionDirectory(this.db, this.replica, this.boot, local, this.log);
    this.crl = new CrlExchange(this.db, this.replica, pkiDir, this.log);
    this.sessions.start();
    this.crl.start();
  }

  /** The admin's view: every replica's sessions, terminate wherever a session runs. */
  admin(local: AdminRuntime): AdminRuntime {
    return new FleetAdmin(local, () => this.sessions);
  }

  async stop(): Promise<void> {
    await this.crl?.stop();
    await this.ports.stop();
    await this.sessions?.stop();
    await this.db.stop();
  }
}

class FleetAdmin implements AdminRuntime {
  constructor(
    private readonly local: AdminRuntime,
    private readonly directory: () => SessionDirectory | undefined,
  ) {}

  inspect(): RuntimeInspection {
    return this.local.inspect();
  }

  listSessions(): Promise<ListedSession[]> {
    return this.directory()?.list() ?? this.local.listSessions();
  }

  terminate(id: string): Promise<boolean> {
    return this.directory()?.terminate(id) ?? this.local.terminate(id);
  }

  reload(trigger: string): Promise<ReloadOutcome> {
    return this.local.reload(trigger);
  }

  /** Each replica writes its own files: this one's. */
  reopenLogs(): Promise<LogReopenReport> {
    return this.local.reopenLogs();
  }
}
