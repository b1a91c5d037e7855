// The easy-rsa 3 directory layout and the only code that writes into it. Every file is written to a
// temporary name in the same directory, fsync'd, then renamed over (or linked to, for files that
// must not exist yet), and the directory is fsync'd: an interrupted command leaves either the old or
// the new file, never half of one.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GatehouseError } from '../errors.js';

export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;
export const PUBLIC_DIR_MODE = 0o755;
export const PUBLIC_FILE_MODE = 0o644;

export interface PkiLayout {
  readonly root: string;
  readonly caCrt: string;
  readonly caKey: string;
  readonly index: string;
  readonly indexAttr: string;
  readonly serial: string;
  readonly crl: string;
  /** easy-rsa 3.2 also keeps a DER copy of the CRL. */
  readonly crlDer: string;
  readonly privateDir: string;
  readonly reqsDir: string;
  readonly issuedDir: string;
  readonly certsBySerialDir: string;
  readonly revokedDir: string;
  readonly lock: string;
  issued(name: string): string;
  key(name: string): string;
  req(name: string): string;
  /** The copy `openssl ca` keeps in new_certs_dir (certs_by_serial/SERIAL.pem). */
  certBySerial(serial: string): string;
  revokedCert(serial: string): string;
  revokedKey(serial: string): string;
  revokedReq(serial: string): string;
  /**
   * Files easy-rsa derives from a name's key and certificate: PKCS#12/#7/#8/#1 exports in issued/
   * and private/, OpenVPN inline files (3.2: inline/, inline/private/; 3.1: NAME.creds).
   */
  derivedCredentials(name: string): string[];
}

const PKCS_EXPORTS = ['p12', 'p7b', 'p8', 'p1'] as const;

export function pkiLayout(root: string): PkiLayout {
  const r = path.resolve(root);
  const j = (...p: string[]) => path.join(r, ...p);
  return {
    root: r,
    caCrt: j('ca.crt'),
    caKey: j('private', 'ca.key'),
    index: j('index.txt'),
    indexAttr: j('index.txt.attr'),
    serial: j('serial'),
    crl: j('crl.pem'),
    crlDer: j('crl.der'),
    privateDir: j('private'),
    reqsDir: j('reqs'),
    issuedDir: j('issued'),
    certsBySerialDir: j('certs_by_serial'),
    revokedDir: j('revoked'),
    lock: j('.gatehouse.lock'),
    issued: (n) => j('issued', `${n}.crt`),
    key: (n) => j('private', `${n}.key`),
    req: (n) => j('reqs', `${n}.req`),
    certBySerial: (s) => j('certs_by_serial', `${s}.pem`),
    revokedCert: (s) => j('revoked', 'certs_by_serial', `${s}.crt`),
    revokedKey: (s) => j('revoked', 'private_by_serial', `${s}.key`),
    revokedReq: (s) => j('revoked', 'reqs_by_serial', `${s}.req`),
    derivedCredentials: (n) => [
      ...PKCS_EXPORTS.flatMap((ext) => [j('issued', `${n}.${ext}`), j('private', `${n}.${ext}`)]),
      j('inline', `${n}.inline`),
      j('inline', 'private', `${n}.inline`),
      j(`${n}.creds`),
    ],
  };
}

/** Directories `easyrsa build-ca` creates. */
export function caDirs(l: PkiLayout): readonly [string, number][] {
  return [
    [l.issuedDir, PUBLIC_DIR_MODE],
    [l.certsBySerialDir, PUBLIC_DIR_MODE],
    [l.revokedDir, PRIVATE_DIR_MODE],
    [path.join(l.revokedDir, 'certs_by_serial'), PRIVATE_DIR_MODE],
    [path.join(l.revokedDir, 'private_by_serial'), PRIVATE_DIR_MODE],
    [path.join(l.revokedDir, 'reqs_by_serial'), PRIVATE_DIR_MODE],
  ];
}

/** easy-rsa's own test (verify_pki_init): the directory with private/ and reqs/. */
export function assertInitialised(l: PkiLayout): void {
  if (!isDir(l.root) || !isDir(l.privateDir) || !isDir(l.reqsDir)) {
    throw new GatehouseError('GH_ERR_PKI_NOT_INITIALISED', [l.root]);
  }
}

/** easy-rsa's verify_ca_init: the CA files and directories every signing command needs. */
export function assertCa(l: PkiLayout): void {
  assertInitialised(l);
  for (const f of [l.caCrt, l.caKey, l.index, l.serial]) {
    if (!fs.existsSync(f)) throw new GatehouseError('GH_ERR_PKI_NO_CA', [l.root, path.relative(l.root, f)]);
  }
}

export function isDir(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** Creates a missing directory with exactly `mode`; an existing one keeps its owner's choice. */
export function ensureDir(p: string, mode: number): void {
  if (isDir(p)) return;
  try {
    fs.mkdirSync(p, { recursive: true, mode });
    fs.chmodSync(p, mode);
  } catch (err) {
    throw ioError('create directory', p, err);
  }
}

export function readText(p: string): string {
  try {
    return fs.readFileSync(p, 'utf8');
  } catch (err) {
    throw ioError('read', p, err);
  }
}

export function readTextIfExists(p: string): string | undefined {
  try {
    return fs.readFileSync(p, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw ioError('read', p, err);
  }
}

/** Replaces `p` atomically (temp + fsync + rename + directory fsync). */
export function writeFileAtomic(p: string, data: string | Uint8Array, mode: number): void {
  const tmp = writeTemp(p, data, mode);
  try {
    fs.renameSync(tmp, p);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw ioError('write', p, err);
  }
  fsyncDir(path.dirname(p));
}

/** Creates `p` atomically; fails with GH_ERR_PKI_EXISTS if it is already there (link() never clobbers). */
export function createFileAtomic(p: string, data: string | Uint8Array, mode: number, what: string): void {
  const tmp = writeTemp(p, data, mode);
  try {
    fs.linkSync(tmp, p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST')
      throw new GatehouseError('GH_ERR_PKI_EXISTS', [what, p]);
    throw ioError('write', p, err);
  } finally {
    fs.rmSync(tmp, { force: true });
  }
  fsyncDir(path.dirname(p));
}

/** Moves a file within the PKI (rename), refusing to overwrite, as easy-rsa's revoke does. */
export function moveFile(from: string, to: string): void {
  if (fs.existsSync(to)) throw new GatehouseError('GH_ERR_PKI_EXISTS', ['the revoked copy', to]);
  try {
    fs.renameSync(from, to);
  } catch (err) {
    throw ioError('move', `${from} to ${to}`, err);
  }
  fsyncDir(path.dirname(from));
  fsyncDir(path.dirname(to));
}

export function removeFile(p: string): void {
  try {
    fs.rmSync(p, { force: true });
  } catch (err) {
    throw ioError('remove', p, err);
  }
}

function writeTemp(p: string, data: string | Uint8Array, mode: number): string {
  const tmp = path.join(
    path.dirname(p),
    `.${path.basename(p)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`,
  );
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, 'wx', mode);
    fs.fchmodSync(fd, mode); // the umask must not widen or narrow what we asked for
    fs.writeFileSync(fd, data);
    fs.fsyncSync(fd);
  } catch (err) {
    if (fd !== undefined) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw ioError('write', p, err);
  }
  fs.closeSync(fd);
  return tmp;
}

function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // Some filesystems refuse a directory fsync; the rename itself is still atomic.
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

export function ioError(verb: string, p: string, cause: unknown): GatehouseError {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  return new GatehouseError('GH_ERR_PKI_IO', [verb, code ? `${p} (${code})` : p], { cause });
}

/**
 * Runs `fn` holding pki/.gatehouse.lock, so two gatehouse commands never interleave their
 * read-modify-write of index.txt and serial. A lock left by a dead process is taken over.
 */
export async function withLock<T>(l: PkiLayout, fn: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = fs.openSync(l.lock, 'wx', PRIVATE_FILE_MODE);
      fs.writeFileSync(fd, `${process.pid}\n`);
      fs.closeSync(fd);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw ioError('create lock', l.lock, err);
      const holder = Number((readTextIfExists(l.lock) ?? '').trim());
      if (attempt === 0 && (!Number.isInteger(holder) || holder <= 0 || !processAlive(holder))) {
        fs.rmSync(l.lock, { force: true });
        continue;
      }
      throw new GatehouseError('GH_ERR_PKI_LOCKED', [l.root, String(holder)], {
        details: [`lock file: ${l.lock}`],
      });
    }
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(l.lock, { force: true });
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
