// A TCP server that accepts connections and never answers: the "dependency that hangs" of the fault
// tests (a paused database, a stuck Redis). Clients must give up through their own timeouts.
import net from 'node:net';

/** Start on 127.0.0.1:<port> (0 = a free port). Resolves to { port, connections(), close() }. */
export function startHangingServer({ port = 0 } = {}) {
  const sockets = new Set();
  let accepted = 0;
  const server = net.createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('error', () => {}); // the client giving up resets the connection
    socket.on('close', () => sockets.delete(socket));
    // Read and discard whatever arrives, so the client's writes never block; never write back.
    socket.resume();
  });
  return new Promise((resolve, reject) => {
    server.on('error', reject);
    server.listen(port, '127.0.0.1', () => {
      resolve({
        port: server.address().port,
        connections: () => accepted,
        close: () =>
          new Promise((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}
