// Helpers for egress tests: origins/canaries in a namespace (egress-origin.ts), a hosts file for a
// namespace, curl through a proxy, and a real Squid with a generated squid.conf.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { run, stopProcess, track } from './procs.js';
import { waitInNetns } from './netns.js';

const HERE = import.meta.dirname;

export interface Origins {
  readonly hits: { hit: string; method: string; url: string; host: string }[];
  stop(): Promise<void>;
}

export async function startOrigins(netns: string, binds: string[]): Promise<Origins> {
  const proc = track(
    spawn(
      'ip',
      [
        'netns',
        'exec',
        netns,
        process.execPath,
        '--import',
        'tsx',
        path.join(HERE, 'egress-origin.ts'),
        JSON.stringify(binds),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], cwd: path.resolve(HERE, '..', '..') },
    ),
  );
  const hits: Origins['hits'] = [];
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  await new Promise<void>((resolve, reject) => {
    readline.createInterface({ input: proc.stdout! }).on('line', (line) => {
      const l = JSON.parse(line) as { ready?: boolean } & Origins['hits'][number];
      if (l.ready) resolve();
      else hits.push(l);
    });
    proc.once('exit', (code) => reject(new Error(`origins exited with ${code}: ${err}`)));
  });
  return { hits, stop: () => stopProcess(proc) };
}

/** /etc/netns/NS/hosts: what `ip netns exec NS` shows as /etc/hosts. Returns a remover. */
export function writeNetnsHosts(netns: string, entries: [string, string][]): () => void {
  const dir = `/etc/netns/${netns}`;
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(
    path.join(dir, 'hosts'),
    ['127.0.0.1 localhost', ...entries.map(([ip, name]) => `${ip} ${name}`)].join('\n') + '\n',
  );
  return () => fs.rmSync(dir, { recursive: true, force: true });
}

export interface CurlResult {
  readonly code: number | null;
  /** HTTP status of the final response (0 when none) */
  readonly status: number;
  /** status of the CONNECT reply when tunnelling (0 when none) */
  readonly connectStatus: number;
  readonly headers: string;
  readonly body: string;
}

let curlSeq = 0;

/** curl through a proxy; `tunnel` uses CONNECT (-p) even for http:// URLs. */
export async function curlVia(
  proxy: string,
  url: string,
  opts: { netns?: string; tunnel?: boolean; extra?: string[]; timeout?: number } = {},
): Promise<CurlResult> {
  const headerFile = path.join(os.tmpdir(), `gh-curl-${process.pid}-${++curlSeq}.txt`);
  const args = [
    '-s',
    '-g',
    '-o',
    '-',
    '-D',
    headerFile,
    '-m',
    String(opts.timeout ?? 5),
    '-w',
    '\n%{http_code} %{http_connect}',
    '-x',
    proxy,
    ...(opts.tunnel ? ['-p'] : []),
    ...(opts.extra ?? []),
    url,
  ];
  const r = await run('curl', args, opts.netns ? { netns: opts.netns } : {});
  let headers = '';
  try {
    headers = fs.readFileSync(headerFile, 'utf8');
    fs.rmSync(headerFile);
  } catch {
    /* curl wrote no headers */
  }
  const lines = r.stdout.split('\n');
  const [status, connectStatus] = (lines.pop() ?? '0 0').split(' ').map(Number);
  return {
    code: r.code,
    status: status ?? 0,
    connectStatus: connectStatus ?? 0,
    headers: headers + r.stderr,
    body: lines.join('\n'),
  };
}

export interface Squid {
  readonly port: number;
  readonly dir: string;
  stop(): Promise<void>;
}

/** Debian's squid with the config a team runs: allowlist dstdomain, default port rules, no cache. */
export async function startSquid(netns: string, allowlist: string, port: number): Promise<Squid> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gh-squid-'));
  fs.chmodSync(dir, 0o777);
  const list = path.join(dir, 'allowlist.txt');
  fs.copyFileSync(allowlist, list);
  fs.chmodSync(list, 0o644);
  const conf = path.join(dir, 'squid.conf');
  fs.writeFileSync(
    conf,
    `http_port 127.0.0.1:${port}
visible_hostname gatehouse-parity
acl allowlist dstdomain "${list}"
acl SSL_ports port 443
acl Safe_ports port 80 21 443 70 210 1025-65535 280 488 591 777
acl CONNECT method CONNECT
http_access deny !Safe_ports
http_access deny CONNECT !SSL_ports
http_access allow allowlist
http_access deny all
cache deny all
cache_mem 8 MB
pid_filename ${dir}/squid.pid
access_log stdio:${dir}/access.log
cache_log ${dir}/cache.log
cache_store_log none
coredump_dir ${dir}
dns_nameservers 127.0.0.1
dns_timeout 2 seconds
connect_timeout 3 seconds
shutdown_lifetime 0 seconds
pinger_enable off
`,
  );
  const proc: ChildProcess = track(
    spawn('ip', ['netns', 'exec', netns, 'squid', '-N', '-f', conf], { stdio: 'ignore' }),
  );
  const stop = async () => {
    await stopProcess(proc, 'SIGINT');
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitInNetns(
      netns,
      ['curl', '-s', '-o', '/dev/null', '-m', '1', `http://127.0.0.1:${port}/`],
      20_000,
    );
  } catch (err) {
    await stop(); // the caller never gets a handle to stop it with
    throw err;
  }
  return { port, dir, stop };
}

export { run };
