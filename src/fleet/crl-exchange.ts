// The CRL through the database: whatever writes this replica's pki/crl.pem (`gatehouse pki revoke`
// or `gen-crl` on this host, a revocation through the admin API) is published to
// gatehouse_crls, and a newer CRL published by any replica is written here, where the access
// endpoints' own CRL watcher picks it up and closes the revoked certificates' sessions. "Newer" is
// the CRL number; only a CRL signed by this PKI's CA is ever published or written. While the
// database is away the local file stands, and on reconnect both directions catch up.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { watchFile, type FileWatcher } from '../config/watch.js';
import { checkCrl } from '../faces/access/trust.js';
import { loadCaCertificatePem } from '../pki/index.js';
import { crlNumberOf, parseCrl } from '../pki/crl.js';
import { writeFileAtomic } from '../pki/store.js';
import type { FleetDb } from './db.js';

const POLL_MS = 5000;

/** The issuer key: the CA certificate's SHA-256, so two PKIs sharing a database never mix. */
function issuerOf(caPem: string): string {
  return createHash('sha256').update(caPem.replace(/\r\n/g, '\n').trim()).digest('hex');
}

export class CrlExchange {
  private watcher: FileWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly db: FleetDb,
    private readonly replica: string,
    private readonly pkiDir: string,
    private readonly log: Logger,
  ) {
    db.onUp(() => this.queue(async () => (await this.publish(), await this.pull())));
    db.onNotification((channel) => {
      if (channel === 'gatehouse_crl') this.queue(() => this.pull());
    });
  }

  private get file(): string {
    return path.join(this.pkiDir, 'crl.pem');
  }

  start(): void {
    this.watcher = watchFile(this.file, () => this.queue(() => this.publish()), {
      debounceMs: 50,
      pollMs: 500,
    });
    this.timer = setInterval(() => this.queue(() => this.pull()), POLL_MS);
    this.timer.unref();
  }

  /** Publishes and pulls run one at a time: a pull never races the publish of the file it wrote. */
  private queue(step: () => Promise<void>): void {
    this.chain = this.chain
      .then(step)
      .catch((err: unknown) => this.log.debug({ err }, 'fleet: CRL exchange step failed'));
  }

  private caPem(): string | undefined {
    try {
      return loadCaCertificatePem(this.pkiDir);
    } catch {
      return undefined; // no PKI here (yet): nothing to exchange
    }
  }

  private localCrl(): { pem: string; number: bigint } | undefined {
    let pem: string;
    try {
      pem = fs.readFileSync(this.file, 'utf8');
    } catch {
      return undefined;
    }
    try {
      return { pem, number: crlNumberOf(parseCrl(pem)) ?? 0n };
    } catch {
      return undefined;
    }
  }

  private async publish(): Promise<void> {
    if (!this.db.up) return;
    const ca = this.caPem();
    const local = this.localCrl();
    if (!ca || !local) return;
    await checkCrl(local.pem, ca, this.file); // only a CRL of this CA leaves this host
    const r = await this.db.query(
      `INSERT INTO gatehouse_crls (issuer, crl_number, pem, published_by) VALUES ($1, $2, $3, $4)
       ON CONFLICT (issuer, crl_number) DO NOTHING`,
      [issuerOf(ca), local.number.toString(), local.pem, this.replica],
    );
    if (r.rowCount === 1) {
      this.log.info({ crlNumber: local.number.toString() }, 'fleet: CRL published to the other replicas');
      await this.db.notify('gatehouse_crl', local.number.toString());
    }
  }

  private async pull(): Promise<void> {
    if (!this.db.up) return;
    const ca = this.caPem();
    if (!ca) return;
    const r = await this.db.query<{ crl_number: string; pem: string; published_by: string }>(
      `SELECT crl_number::text AS crl_number, pem, published_by FROM gatehouse_crls
       WHERE issuer = $1 ORDER BY crl_number DESC LIMIT 1`,
      [issuerOf(ca)],
    );
    const newest = r.rows[0];
    if (!newest) return;
    const local = this.localCrl();
    if (local && BigInt(newest.crl_number) <= local.number) return;
    await checkCrl(newest.pem, ca, `${newest.published_by}'s CRL`);
    writeFileAtomic(this.file, newest.pem, 0o644);
    this.log.info(
      { crlNumber: newest.crl_number, from: newest.published_by },
      'fleet: newer CRL from another replica written to crl.pem',
    );
  }

  stop(): Promise<void> {
    this.watcher?.close();
    if (this.timer) clearInterval(this.timer);
    return this.chain;
  }
}
