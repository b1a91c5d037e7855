// Runs memcache-plus with auto discovery against the given configuration endpoint, writes and
// reads keys, prints what it saw as JSON and exits (the library keeps reconnect timers alive, so
// it runs in its own process).
import MemcachePlus from 'memcache-plus';

const [endpoint, count] = process.argv.slice(2);
const client = new MemcachePlus({ hosts: [endpoint], autodiscover: true, onNetError: () => {} });
const timer = setTimeout(() => {
  console.log(JSON.stringify({ error: 'timed out' }));
  process.exit(1);
}, 15000);
try {
  await client.ready();
  const n = Number(count);
  for (let i = 0; i < n; i++) await client.set(`k${i}`, `v${i}`);
  let matched = 0;
  for (let i = 0; i < n; i++) if ((await client.get(`k${i}`)) === `v${i}`) matched++;
  console.log(JSON.stringify({ hosts: client.hosts, matched }));
  clearTimeout(timer);
  process.exit(0);
} catch (err) {
  console.log(JSON.stringify({ error: String(err) }));
  process.exit(1);
}
