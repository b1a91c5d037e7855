// Origin and canary servers for egress tests, run inside a network namespace:
//   ip netns exec NS node --import tsx test/helpers/egress-origin.ts '["203.0.113.10:80", "[fd00::1]:443"]'
// Each bind answers HTTP with "origin ADDR" and prints one JSON line per request on stdout
// ({"hit":"ADDR","method":…,"url":…,"host":…}); a hit on a canary is a leak. Prints {"ready":true}
// once every bind listens.
import http from 'node:http';

const binds = JSON.parse(process.argv[2] ?? '[]') as string[];

function split(b: string): { host: string; port: number } {
  const m = /^\[?(.*?)\]?:(\d+)$/.exec(b)!;
  return { host: m[1]!, port: Number(m[2]) };
}

let pending = binds.length;
for (const b of binds) {
  const { host, port } = split(b);
  const server = http.createServer((req, res) => {
    process.stdout.write(
      JSON.stringify({ hit: b, method: req.method, url: req.url, host: req.headers.host }) + '\n',
    );
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end(`origin ${b}\n`);
  });
  server.listen({ host, port }, () => {
    if (--pending === 0) process.stdout.write(JSON.stringify({ ready: true }) + '\n');
  });
  server.on('error', (err) => {
    process.stderr.write(`${b}: ${err.message}\n`);
    process.exit(1);
  });
}
process.on('SIGTERM', () => process.exit(0));
