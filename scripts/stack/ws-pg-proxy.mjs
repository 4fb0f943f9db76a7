// WebSocket → TCP proxy for the Neon serverless driver (what Neon's own local proxy does).
// Worker side: neonConfig.wsProxy = (host, port) => `${NEON_LOCAL_WS_PROXY}/v2?address=${host}:${port}`.
// The requested `address` is ignored: every connection goes to pgHost:pgPort, so this is never an open relay.
import http from 'node:http';
import net from 'node:net';
import { WebSocketServer } from 'ws';

/** Start the proxy on 127.0.0.1:<port> (0 = any free port). Resolves to { port, close() }. */
export async function startWsPgProxy({ port = 0, pgHost = '127.0.0.1', pgPort = 5432 } = {}) {
  const server = http.createServer((_req, res) => { res.writeHead(426).end('WebSocket only\n'); });
  const wss = new WebSocketServer({ server, perMessageDeflate: false });
  const conns = new Set();

  wss.on('connection', (ws) => {
    const sock = net.connect({ host: pgHost, port: pgPort }); // writes before 'connect' are queued by net
    sock.setNoDelay(true);
    const conn = { ws, sock };
    conns.add(conn);
    const close = () => {
      if (!conns.delete(conn)) return;
      sock.destroy();
      if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) ws.close(); else ws.terminate();
    };
    ws.on('message', (data, isBinary) => {
      if (!sock.write(isBinary ? data : Buffer.from(data))) ws.pause(); // backpressure towards the client
    });
    sock.on('drain', () => ws.resume());
    sock.on('data', (chunk) => {
      if (ws.readyState !== ws.OPEN) return;
      ws.send(chunk, { binary: true }, () => { if (sock.isPaused() && ws.bufferedAmount < 1 << 18) sock.resume(); });
      if (ws.bufferedAmount > 1 << 20) sock.pause(); // backpressure towards Postgres
    });
    for (const [em, ev] of [[ws, 'close'], [ws, 'error'], [sock, 'close'], [sock, 'error']]) em.on(ev, close);
  });

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });

  return {
    port: server.address().port,
    close: () => new Promise((resolve) => {
      for (const { ws, sock } of conns) { sock.destroy(); ws.terminate(); }
      conns.clear();
      wss.close();
      server.close(() => resolve());
      server.closeAllConnections?.();
    }),
  };
}
