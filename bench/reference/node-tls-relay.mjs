// Benchmark reference only, not product code: the plainest mutual-TLS relay Node can run (one
// tls.Server, verify against the CA and CRL, pipe to the target), to show what Node's TLS costs
// by itself next to Gatehouse's access endpoint and stunnel.
//   node bench/reference/node-tls-relay.mjs PKI_DIR LISTEN_PORT TARGET_PORT
import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';

const [pki, port, target] = process.argv.slice(2);
const server = tls.createServer(
  {
    cert: fs.readFileSync(`${pki}/issued/server.crt`),
    key: fs.readFileSync(`${pki}/private/server.key`),
    ca: fs.readFileSync(`${pki}/ca.crt`),
    crl: [fs.readFileSync(`${pki}/crl.pem`, 'utf8')],
    requestCert: true,
    rejectUnauthorized: true,
  },
  (client) => {
    const upstream = net.connect({ port: Number(target), host: '127.0.0.1', noDelay: true });
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  },
);
server.listen(Number(port), '127.0.0.1');
