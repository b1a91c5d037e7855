// A daemon with its admin API for the admin tests: starts `gatehouse serve` (startGatehouse), waits
// for the admin listener, reads the generated token file, and gives a small authorized client.
import fs from 'node:fs';
import path from 'node:path';
import { startGatehouse, type Gatehouse } from './gatehouse.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON answers, checked by the tests
type Json = any;

export interface AdminLab {
  readonly gh: Gatehouse;
  readonly url: string;
  readonly token: string;
  api(
    method: string,
    p: string,
    body?: unknown,
    token?: string | null,
  ): Promise<{ status: number; body: Json }>;
}

export async function startAdminLab(
  config: string,
  opts: { dir?: string; env?: Record<string, string> } = {},
): Promise<AdminLab> {
  const gh = await startGatehouse(config, opts);
  const line = await gh.waitForLog((l) => l.msg === 'admin API listening');
  const url = `http://${String(line.admin)}`;
  const tokenFile = path.join(gh.dir, 'gatehouse-admin.token');
  const token = fs.existsSync(tokenFile) ? fs.readFileSync(tokenFile, 'utf8').trim() : '';
  return {
    gh,
    url,
    token,
    async api(method, p, body, tok) {
      const t = tok === undefined ? token : tok;
      const res = await fetch(`${url}${p}`, {
        method,
        headers: {
          ...(t ? { authorization: `Bearer ${t}` } : {}),
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: res.status, body: await res.json().catch(() => undefined) };
    },
  };
}
