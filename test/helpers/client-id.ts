// One Redis connection that stays open: redis-cli repeating CLIENT ID on the same connection
// prints the same id for as long as that connection lives, so a reconnect shows as a new id.
import { spawn } from 'node:child_process';
import readline from 'node:readline';
import { track } from './procs.js';

export interface ClientIdWatch {
  readonly ids: string[];
  /** Resolves once `n` more ids have arrived. */
  more(n: number): Promise<void>;
  stop(): void;
}

export function watchClientId(host: string, port: number, netns?: string): ClientIdWatch {
  const args = ['-h', host, '-p', String(port), '-r', '-1', '-i', '0.05', 'CLIENT', 'ID'];
  const [cmd, argv] = netns ? ['ip', ['netns', 'exec', netns, 'redis-cli', ...args]] : ['redis-cli', args];
  const child = track(spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'ignore'] }));
  const ids: string[] = [];
  let notify: (() => void) | undefined;
  readline.createInterface({ input: child.stdout! }).on('line', (l) => {
    ids.push(l.trim());
    notify?.();
  });
  return {
    ids,
    more(n) {
      const want = ids.length + n;
      return new Promise((resolve) => {
        notify = () => {
          if (ids.length >= want) {
            notify = undefined;
            resolve();
          }
        };
        notify();
      });
    },
    stop: () => child.kill(),
  };
}
