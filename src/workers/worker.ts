// One worker process: a Runtime (listeners, faces, relays) whose host-wide state is the primary's
// (worker-state.ts). The primary sends each config as text in two phases, prepare then commit, so
// either every worker runs a config or none does; it also asks for sessions and terminations.
// SIGINT is the primary's to handle (a terminal sends it to the whole process group); SIGTERM
// sent to a worker alone drains it, and the primary starts another in its place.
import { parseConfig } from '../config/load.js';
import { GatehouseError, isGatehouseError } from '../errors.js';
import { createLog } from '../runtime/log.js';
import { Runtime, type PreparedSnapshot } from '../runtime/runtime.js';
import { Pending } from './ipc.js';
import { listenMode } from './listen-mode.js';
import {
  isOurs,
  type FromWorker,
  type PrimaryRequest,
  type RefusedConfig,
  type ToWorker,
} from './messages.js';
import { WorkerState } from './worker-state.js';

function send(m: FromWorker): Promise<void> {
  return new Promise((resolve) => {
    if (!process.connected || !process.send) return resolve();
    process.send(m, undefined, {}, () => resolve());
  });
}

function refusal(err: unknown): RefusedConfig {
  return {
    code: isGatehouseError(err) ? err.code : undefined,
    message: err instanceof Error ? err.message : String(err),
    ...(isGatehouseError(err) && err.details.length > 0 ? { problems: err.details } : {}),
  };
}

/**
 * A test hook, documented in docs/design.md: GATEHOUSE_TEST_REFUSE_CONFIG="w2:MARKER" makes worker
 * w2 refuse every config whose text holds MARKER. A worker that cannot build what the primary
 * validated is real (a file the config names changed in between) but cannot be staged on demand.
 */
function refuseOnTestMarker(name: string, text: string): void {
  const hook = process.env.GATEHOUSE_TEST_REFUSE_CONFIG;
  if (!hook) return;
  const colon = hook.indexOf(':');
  if (hook.slice(0, colon) === name && text.includes(hook.slice(colon + 1)))
    throw new GatehouseError('GH_ERR_CONFIG_INVALID', ['(test hook)', 1], {
      details: [`GATEHOUSE_TEST_REFUSE_CONFIG: ${name} refuses this config`],
    });
}

export function runWorker(): void {
  const name = `w${process.env.GATEHOUSE_WORKER_SLOT ?? '?'}`;
  const log = createLog({ worker: name });
  const toPrimary = new Pending();
  const ask = (req: PrimaryRequest) => {
    const { id, reply } = toPrimary.open(10_000);
    void send({ t: 'request', id, req });
    return reply;
  };
  const state = new WorkerState(send, ask);
  const runtime = new Runtime(log, state, {
    reusePort: listenMode().reusePort,
    workers: Number(process.env.GATEHOUSE_WORKERS) || 1,
  });
  let prepared: { gen: number; snapshot: PreparedSnapshot } | undefined;
  let stopping = false;

  const stop = async (grace: number) => {
    if (stopping) return;
    stopping = true;
    await runtime.shutdown(grace);
    await send({ t: 'stopped' });
    process.exit(0);
  };

  const answer = async (m: Extract<ToWorker, { t: 'request' }>) => {
    let value: unknown;
    if (m.req.op === 'sessions') value = runtime.sessions.list();
    else if (m.req.op === 'terminate') value = runtime.sessions.terminate(m.req.session, 'terminated');
    await send({ t: 'reply', id: m.id, value });
  };

  const onMessage = async (m: ToWorker) => {
    switch (m.t) {
      case 'prepare': {
        try {
          refuseOnTestMarker(name, m.config.text);
          const loaded = parseConfig(m.config.text, m.config.file, m.config.baseDir);
          prepared = { gen: m.gen, snapshot: runtime.prepare(loaded) };
          await send({ t: 'prepared', gen: m.gen });
        } catch (err) {
          prepared = undefined;
          await send({ t: 'prepared', gen: m.gen, error: refusal(err) });
        }
        return;
      }
      case 'commit': {
        if (!prepared || prepared.gen !== m.gen) return;
        const p = prepared.snapshot;
        prepared = undefined;
        state.load(m.host);
        const report = await runtime.commit(p);
        await send({ t: 'committed', gen: m.gen, report, listening: runtime.listening() });
        return;
      }
      case 'abort':
        if (prepared?.gen === m.gen) prepared = undefined;
        return;
      case 'topology':
        state.topologyChanged(m.cluster, m.topology);
        return;
      case 'ports':
        state.portsChanged(m.ports);
        return;
      case 'request':
        return answer(m);
      case 'reply':
        toPrimary.settle(m.id, m.value);
        return;
      case 'shutdown':
        return stop(m.grace);
    }
  };

  process.on('message', (m: unknown) => {
    if (!isOurs(m)) return;
    onMessage(m as ToWorker).catch((err: unknown) => log.error({ err }, 'worker: message failed'));
  });
  // The primary is gone (killed): nobody can hand this worker a config or write its audit.
  process.on('disconnect', () => {
    if (!stopping) log.error('worker: the primary is gone; stopping');
    void stop(0);
  });
  process.on('SIGINT', () => {});
  process.once('SIGTERM', () => void stop(5000));
  void send({ t: 'ready', idPrefix: state.sessions.idPrefix });
}
