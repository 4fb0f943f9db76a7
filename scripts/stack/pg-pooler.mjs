// Transaction-mode pooling of PostgreSQL sessions behind the local WebSocket endpoint, as Neon's pooled endpoint
// does it: a client session is answered by the stand-in itself (cleartext password, as Neon's proxy asks for it,
// so the driver's pipelined connect works), and borrows a server connection only from the first message of a
// transaction until the server reports it idle again (ReadyForQuery 'I'). So opening a session costs no
// PostgreSQL backend start-up, many client sessions share a few server connections, and anything that relied on
// session state surviving between transactions would break here exactly as it would in production.
import pg from 'pg';

/** Server connections shared by every client session, keyed by user/password/database. */
export function createServerPool({ host, port, max, waitMs, idleMs = 5000 }) {
  const idle = new Map(); // key → [server]
  const all = new Set();
  const waiting = []; // { key, creds, resolve, reject, timer }
  let opening = 0;
  const validKeys = new Set(); // credentials PostgreSQL accepted once: later sessions need no server to log in

  async function open(key, creds) {
    const client = new pg.Client({ host, port, user: creds.user, password: creds.password, database: creds.database, application_name: 'neon-local-ws' });
    const parameters = {};
    client.connection.on('parameterStatus', (m) => { parameters[m.parameterName] = m.parameterValue; });
    client.on('error', () => {}); // a server connection dying is handled through its socket below
    await client.connect();
    validKeys.add(key);
    const sock = client.connection.stream;
    sock.removeAllListeners('data'); // from here on the bytes are relayed raw, not parsed by the pg client
    const server = { key, sock, parameters, onData: null, onGone: null, idleTimer: null, dead: false };
    sock.on('data', (chunk) => server.onData?.(chunk));
    const gone = () => {
      if (server.dead) return;
      server.dead = true;
      all.delete(server);
      unidle(server);
      server.onGone?.();
      serveWaiter();
    };
    sock.on('close', gone);
    sock.on('error', gone);
    return server;
  }

  function unidle(server) {
    clearTimeout(server.idleTimer);
    const list = idle.get(server.key);
    const i = list ? list.indexOf(server) : -1;
    if (i >= 0) list.splice(i, 1);
  }

  function destroy(server) {
    server.onData = null;
    server.onGone = null;
    server.sock.destroy();
  }

  async function openCounted(key, creds) {
    opening++;
    try {
      const server = await open(key, creds);
      all.add(server);
      return server;
    } finally {
      opening--;
    }
  }

  /** A slot freed up (a server closed): open one for the oldest waiter. */
  function serveWaiter() {
    while (waiting.length && all.size + opening < max) {
      const w = waiting.shift();
      clearTimeout(w.timer);
      openCounted(w.key, w.creds).then(w.resolve, w.reject);
    }
  }

  return {
    knows: (key) => validKeys.has(key),
    /**
     * Log-in check for credentials not seen yet: a connection outside the cap (logging in never waits for a
     * transaction to finish), kept as an idle server connection when there is room.
     */
    async verify(key, creds) {
      const server = await open(key, creds);
      if (all.size + opening < max && !waiting.length) {
        all.add(server);
        this.release(server);
      } else destroy(server);
      return server.parameters;
    },
    /** An exclusive server connection for these credentials; rejects with PostgreSQL's error, or 53300 after `waitMs`. */
    acquire(key, creds) {
      const ready = idle.get(key)?.pop();
      if (ready) {
        clearTimeout(ready.idleTimer);
        return Promise.resolve(ready);
      }
      if (all.size + opening < max) return openCounted(key, creds);
      // Full: an idle connection of other credentials makes room, else wait in line.
      for (const list of idle.values()) {
        const spare = list.pop();
        if (spare) {
          clearTimeout(spare.idleTimer);
          destroy(spare);
          all.delete(spare);
          return openCounted(key, creds);
        }
      }
      return new Promise((resolve, reject) => {
        const w = { key, creds, resolve, reject, timer: null };
        w.timer = setTimeout(() => {
          const i = waiting.indexOf(w);
          if (i >= 0) waiting.splice(i, 1);
          reject(Object.assign(new Error('sorry, too many clients already'), { code: '53300', severity: 'FATAL' }));
        }, waitMs);
        waiting.push(w);
      });
    },
    /** Back to the pool, idle (not inside a transaction): the next waiter for the same credentials gets it. */
    release(server) {
      server.onData = null;
      server.onGone = null;
      if (server.dead) return;
      const i = waiting.findIndex((w) => w.key === server.key);
      if (i >= 0) {
        const [w] = waiting.splice(i, 1);
        clearTimeout(w.timer);
        w.resolve(server);
        return;
      }
      if (waiting.length) {
        // Others wait for different credentials: give them the slot.
        destroy(server);
        return;
      }
      if (!idle.has(server.key)) idle.set(server.key, []);
      idle.get(server.key).push(server);
      server.idleTimer = setTimeout(() => destroy(server), idleMs);
    },
    /** Left mid-transaction (client gone): the connection cannot be reused. */
    discard: destroy,
    close() {
      for (const w of waiting.splice(0)) {
        clearTimeout(w.timer);
        w.reject(Object.assign(new Error('shutting down'), { code: '57P01' }));
      }
      for (const server of all) destroy(server);
    },
  };
}

/**
 * One client session on a WebSocket: log-in answered here, then each transaction on a borrowed server connection.
 * `send(buf)` writes to the client (after the simulated distance), `end()` closes the client; `count(event)` gets
 * 'connect' once and 'statement' per simple query or Execute.
 */
export function clientSession({ pool, send, end, count }) {
  let phase = 'startup';
  let startup = {};
  let creds;
  let key;
  let server = null;
  let acquiring = false;
  let closed = false;
  const outbound = [];
  let awaitingReady = 0; // Syncs and simple queries sent that the server has not answered with ReadyForQuery yet
  let midSequence = false; // extended-protocol messages sent since the last Sync
  let status = 'I';
  let fromServer = Buffer.alloc(0);
  const fromClient = messageReader();

  const idleNow = () => awaitingReady === 0 && !midSequence && status === 'I' && outbound.length === 0;

  function fail(err) {
    send(errorResponse(err));
    close();
  }

  /**
   * No server connection in time: this transaction's first statement fails with 53300 as an ordinary error, and
   * the session stays usable (everything up to the next Sync is skipped, as PostgreSQL does after an error).
   */
  let skipping = false;
  function refuse(err) {
    send(errorResponse({ ...err, severity: 'ERROR' }));
    skipping = true;
    skipToSync();
    pump();
  }
  function skipToSync() {
    while (skipping && outbound.length) {
      const m = outbound.shift();
      if (m.type === 'Q' || m.type === 'S') {
        send(message('Z', Buffer.from('I')));
        skipping = false;
      }
    }
  }

  function close() {
    if (closed) return;
    closed = true;
    if (server) {
      const s = server;
      server = null;
      if (awaitingReady === 0 && !midSequence && status === 'I') pool.release(s);
      else pool.discard(s);
    }
    end();
  }

  function loggedIn(parameters) {
    const parts = [message('R', int32(0))];
    for (const [k, v] of Object.entries(parameters)) parts.push(message('S', Buffer.from(`${k}\0${v}\0`)));
    parts.push(message('K', Buffer.concat([int32(process.pid), int32((Math.random() * 2 ** 31) | 0)])));
    parts.push(message('Z', Buffer.from('I')));
    send(Buffer.concat(parts));
    phase = 'ready';
    pump();
  }

  let parameters = {};
  function logIn() {
    phase = 'authenticating';
    if (pool.knows(key)) return loggedIn(parameters);
    pool.verify(key, creds).then((p) => {
      parameters = p;
      if (!closed) loggedIn(parameters);
    }, fail);
  }

  function pump() {
    if (closed || phase !== 'ready' || outbound.length === 0) return;
    if (!server) {
      if (acquiring) return;
      acquiring = true;
      pool.acquire(key, creds).then((s) => {
        acquiring = false;
        if (closed) return pool.release(s);
        server = s;
        fromServer = Buffer.alloc(0);
        s.onData = onServerData;
        s.onGone = () => { server = null; fail({ code: '08006', severity: 'FATAL', message: 'server connection lost' }); };
        pump();
      }, (err) => {
        acquiring = false;
        if (err?.code === '53300') refuse(err);
        else fail(err);
      });
      return;
    }
    while (outbound.length) {
      const m = outbound.shift();
      if (m.type === 'Q' || m.type === 'S') awaitingReady++;
      if (m.type === 'S') midSequence = false;
      else if (m.type !== 'Q') midSequence = true;
      server.sock.write(m.bytes);
    }
  }

  function onServerData(chunk) {
    send(chunk);
    fromServer = fromServer.length ? Buffer.concat([fromServer, chunk]) : chunk;
    while (fromServer.length >= 5) {
      const len = fromServer.readInt32BE(1);
      if (fromServer.length < len + 1) break;
      if (fromServer[0] === 0x5a /* Z */) {
        awaitingReady--;
        status = String.fromCharCode(fromServer[5]);
      }
      fromServer = fromServer.subarray(len + 1);
    }
    if (server && fromServer.length === 0 && idleNow()) {
      const s = server;
      server = null;
      pool.release(s);
    }
  }

  return {
    /** Bytes from the client. */
    receive(chunk) {
      for (const m of fromClient(chunk)) {
        if (closed) return;
        if (phase === 'startup') {
          const code = m.bytes.readInt32BE(4);
          if (code === 80877103 || code === 80877104) { send(Buffer.from('N')); continue; } // no SSL / GSS here
          if (code === 80877102) { close(); return; } // CancelRequest: nothing to cancel across a pooler
          const kv = m.bytes.subarray(8, m.bytes.length - 1).toString('utf8').split('\0');
          for (let i = 0; i + 1 < kv.length; i += 2) startup[kv[i]] = kv[i + 1];
          count('connect', startup.database ?? startup.user);
          send(message('R', int32(3))); // cleartext password, as Neon's proxy asks
          phase = 'password';
          continue;
        }
        if (phase === 'password') {
          if (m.type !== 'p') return fail({ code: '08P01', severity: 'FATAL', message: 'expected a password message' });
          const password = m.bytes.subarray(5, m.bytes.length - 1).toString('utf8');
          creds = { user: startup.user, password, database: startup.database ?? startup.user };
          key = `${creds.user}\n${creds.password}\n${creds.database}`;
          logIn();
          continue;
        }
        if (m.type === 'X') return close();
        if (m.type === 'Q' || m.type === 'E') count('statement', creds.database);
        outbound.push(m);
      }
      skipToSync();
      pump();
    },
    close,
  };
}

/** Splits the client's byte stream into messages: first the untyped start-up packet(s), then typed messages. */
function messageReader() {
  let buf = Buffer.alloc(0);
  let typed = false;
  const read = (chunk) => {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    const out = [];
    for (;;) {
      if (!typed) {
        if (buf.length < 8) break;
        const len = buf.readInt32BE(0);
        if (buf.length < len) break;
        out.push({ type: null, bytes: buf.subarray(0, len) });
        buf = buf.subarray(len);
        const code = out.at(-1).bytes.readInt32BE(4);
        // After the real start-up packet everything is typed (SSLRequest / GSSENCRequest come before it).
        if (code !== 80877103 && code !== 80877104) typed = true;
        continue;
      }
      if (buf.length < 5) break;
      const len = buf.readInt32BE(1);
      if (buf.length < len + 1) break;
      out.push({ type: String.fromCharCode(buf[0]), bytes: buf.subarray(0, len + 1) });
      buf = buf.subarray(len + 1);
    }
    return out;
  };
  return read;
}

const int32 = (n) => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
};

function message(type, body) {
  const head = Buffer.alloc(5);
  head.write(type, 0);
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

/** A PostgreSQL ErrorResponse from an error with PostgreSQL's fields (a connection failure becomes 08006). */
export function errorResponse(err) {
  const code = err?.code && /^[0-9A-Z]{5}$/.test(err.code) ? err.code : '08006';
  const severity = err?.severity ?? 'FATAL';
  const text = code === '08006' && !err?.severity ? `could not reach the database: ${err?.message ?? err}` : String(err?.message ?? err);
  const fields = [['S', severity], ['V', severity], ['C', code], ['M', text]];
  if (err?.detail) fields.push(['D', err.detail]);
  const body = Buffer.concat([...fields.map(([k, v]) => Buffer.from(`${k}${v}\0`)), Buffer.from([0])]);
  return message('E', body);
}
