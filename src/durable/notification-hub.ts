import { DurableObject } from 'cloudflare:workers';
import type { Env } from '../config';

/**
 * Realtime notifications: one NotificationHub per user (idFromName(userId)) holds that user's open
 * WebSockets through the Hibernation API and their single-use connect tickets.
 *
 * A dedicated class rather than the UserState object: UserState is the fail-closed home of OTP codes
 * and strict limits, and its alarm drives their expiry. The hub is best-effort fan-out that wakes on
 * every push and every heartbeat; keeping it apart means socket traffic never queues behind OTP or
 * limit calls, and nothing here can touch that state.
 *
 * Nothing is kept in instance fields: after hibernation the object is rebuilt from scratch, so every
 * decision reads `ctx.getWebSockets()`, each socket's attachment and the object's storage.
 */

/** What a client sees of a notification on the stream. */
export interface StreamNotification {
  id: string;
  type: string;
  title: string;
  message: string;
  createdAt: string;
  read: boolean;
}

/** Every JSON text frame the server sends. */
export type StreamMessage =
  | { type: 'notification'; notification: StreamNotification }
  | { type: 'unreadCount'; count: number }
  | { type: 'heartbeat'; at: string }
  | { type: 'resync'; reason: 'unknown_since' | 'too_many' }
  | { type: 'pong' };

/** An unread count and when it was read from the database (ms): older counts never overwrite newer ones. */
export interface UnreadCount {
  count: number;
  at: number;
}

/** One delivery into the hub: a new notification (pushed once per id) and/or the new unread count. */
export interface HubPush {
  notification?: StreamNotification;
  unread: UnreadCount;
}

export const STREAM_POLICY = {
  /** A connect ticket is valid this long (and only once). */
  ticketTtlMs: 30_000,
  /** Unused tickets kept per user; issuing one more drops the oldest. */
  maxTickets: 10,
  /** Server heartbeat to every open socket (also keeps idle proxies from closing the connection). */
  heartbeatMs: 30_000,
  /** A socket whose resume never completed is closed after this long. */
  catchUpTimeoutMs: 15_000,
  /** How long a pushed notification id is remembered, so a repeated push is dropped. */
  seenTtlMs: 10 * 60_000,
  /** Pushes buffered for a socket that is still receiving its resume backlog. */
  maxPending: 200,
  /**
   * A socket is closed this long after it opened, so the client proves again that it holds a session (a new ticket
   * needs one): signing out everywhere or a revoked session ends the stream within this time (plus a heartbeat).
   */
  maxSocketAgeMs: 60 * 60_000,
} as const;

/** Close codes the stream uses (4000–4999 are application codes). */
export const STREAM_CLOSE = {
  /** The user opened more sockets than allowed: the oldest is closed. */
  tooMany: 4001,
  /** The resume never completed (the request that opened the socket failed). */
  catchUpFailed: 4002,
  /** The socket reached its maximum age: reconnect with a new ticket (and `since`). */
  reauthenticate: 4003,
  /** The account was deleted. */
  accountClosed: 4004,
} as const;

/** Clients ping with this exact text; the runtime answers without waking the object. */
export const PING = '{"type":"ping"}';
export const PONG = '{"type":"pong"}';

/** The internal connect request (worker → hub): headers the hub reads and answers with. */
export const HUB_HEADERS = {
  ticketHash: 'X-Ticket-Hash',
  maxSockets: 'X-Max-Sockets',
  socketId: 'X-Socket-Id',
  userId: 'X-User-Id',
} as const;

interface SocketState {
  id: string;
  /** Connection order (a counter: several sockets can open within one millisecond). */
  seq: number;
  connectedAt: number;
  /** False until the resume backlog has been sent; pushes are buffered in storage until then. */
  live: boolean;
  /** The newest ids sent during the resume: a push of one of them that was already in flight is not sent twice. */
  resumed?: string[];
}

const KEY = {
  owner: 'owner',
  seq: 'seq',
  unread: 'unread',
  ticket: (hash: string) => `ticket:${hash}`,
  seen: (notificationId: string) => `seen:${notificationId}`,
  pending: (socketId: string) => `pending:${socketId}`,
};

const OPEN = 1;
const RESUMED_IDS_KEPT = 20;

export class NotificationHub extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(PING, PONG));
  }

  private get kv() {
    return this.ctx.storage.kv;
  }

  // ───────────────────────────── tickets ─────────────────────────────

  /** Store a ticket's SHA-256 (never the ticket) for `ticketTtlMs`; returns its expiry (ms). */
  async issueTicket(userId: string, hash: string, now: number = Date.now()): Promise<number> {
    const owner = this.kv.get<string>(KEY.owner);
    if (owner === undefined) this.kv.put(KEY.owner, userId);
    else if (owner !== userId) throw new Error('NotificationHub called for a different user');
    const live = [...this.kv.list<number>({ prefix: 'ticket:' })].filter(([key, expiresAt]) => {
      if (expiresAt > now) return true;
      this.kv.delete(key);
      return false;
    });
    live.sort((a, b) => a[1] - b[1]);
    while (live.length >= STREAM_POLICY.maxTickets) this.kv.delete(live.shift()![0]);
    const expiresAt = now + STREAM_POLICY.ticketTtlMs;
    this.kv.put(KEY.ticket(hash), expiresAt);
    await this.scheduleAlarm(expiresAt);
    return expiresAt;
  }

  // ───────────────────────────── connect ─────────────────────────────

  /**
   * The internal connect request. The ticket is consumed (deleted, even when expired) and the socket
   * accepted in one synchronous block, so a ticket can never open two sockets. The new socket starts
   * "catching up": the caller sends its resume backlog through `catchUp`, and pushes that arrive
   * meanwhile are buffered for it.
   */
  override async fetch(request: Request): Promise<Response> {
    if (request.headers.get('Upgrade')?.toLowerCase() !== 'websocket') return new Response(null, { status: 426 });
    const now = Date.now();
    const key = KEY.ticket(request.headers.get(HUB_HEADERS.ticketHash) ?? '');
    const expiresAt = this.kv.get<number>(key);
    const owner = this.kv.get<string>(KEY.owner);
    if (expiresAt === undefined || owner === undefined) return new Response(null, { status: 401 });
    this.kv.delete(key);
    if (expiresAt <= now) return new Response(null, { status: 401 });

    const { 0: client, 1: server } = new WebSocketPair();
    const id = crypto.randomUUID();
    const seq = (this.kv.get<number>(KEY.seq) ?? 0) + 1;
    this.kv.put(KEY.seq, seq);
    this.ctx.acceptWebSocket(server, [id]);
    server.serializeAttachment({ id, seq, connectedAt: now, live: false } satisfies SocketState);
    this.enforceSocketCap(Number(request.headers.get(HUB_HEADERS.maxSockets)) || 5);
    await this.scheduleAlarm(now + STREAM_POLICY.heartbeatMs);
    return new Response(null, { status: 101, webSocket: client, headers: { [HUB_HEADERS.socketId]: id, [HUB_HEADERS.userId]: owner } });
  }

  /**
   * Finish a connect: send the resume `backlog` (oldest first), then anything pushed while it was
   * being read (minus what the backlog already held), then the newest unread count; from then on the
   * socket receives pushes directly. False when the socket is already gone.
   */
  catchUp(socketId: string, backlog: StreamMessage[], unread: UnreadCount): boolean {
    const ws = this.ctx.getWebSockets(socketId)[0];
    const pending = this.kv.get<HubPush[]>(KEY.pending(socketId)) ?? [];
    this.kv.delete(KEY.pending(socketId));
    const state = ws ? stateOf(ws) : null;
    if (!ws || !state || ws.readyState !== OPEN) return false;
    const sent = new Set<string>();
    for (const message of backlog) {
      send(ws, message);
      if (message.type === 'notification') sent.add(message.notification.id);
    }
    let latest = newer(unread, this.kv.get<UnreadCount>(KEY.unread));
    for (const push of pending) {
      if (push.notification && !sent.has(push.notification.id)) {
        send(ws, { type: 'notification', notification: push.notification });
        sent.add(push.notification.id);
      }
      latest = newer(latest, push.unread);
    }
    send(ws, { type: 'unreadCount', count: latest.count });
    // Attachments are small (2 KiB): only the newest ids can still have a push in flight anyway.
    ws.serializeAttachment({ ...state, live: true, resumed: [...sent].slice(-RESUMED_IDS_KEPT) } satisfies SocketState);
    return true;
  }

  /** Close a socket whose connect request failed before its resume was sent. */
  abandon(socketId: string): void {
    this.kv.delete(KEY.pending(socketId));
    for (const ws of this.ctx.getWebSockets(socketId)) closeQuietly(ws, STREAM_CLOSE.catchUpFailed, 'Resume failed, reconnect');
  }

  // ───────────────────────────── push ─────────────────────────────

  /**
   * Deliver a new notification and/or unread count to every open socket. A notification id already
   * pushed is dropped (idempotent per notification); a count older than the last one is not sent.
   * Returns how many sockets received it directly (sockets still catching up get it buffered).
   */
  push(input: HubPush, now: number = Date.now()): { delivered: number; duplicate: boolean } {
    const sockets = this.openSockets();
    if (sockets.length === 0) return { delivered: 0, duplicate: false };
    if (input.notification) {
      const seenKey = KEY.seen(input.notification.id);
      if (this.kv.get<number>(seenKey) !== undefined) return { delivered: 0, duplicate: true };
      this.kv.put(seenKey, now + STREAM_POLICY.seenTtlMs);
    }
    const last = this.kv.get<UnreadCount>(KEY.unread);
    const countIsNew = !last || input.unread.at >= last.at;
    if (countIsNew) this.kv.put(KEY.unread, input.unread);
    let delivered = 0;
    for (const { ws, state } of sockets) {
      if (!state.live) {
        const key = KEY.pending(state.id);
        const pending = this.kv.get<HubPush[]>(key) ?? [];
        if (pending.length < STREAM_POLICY.maxPending) this.kv.put(key, [...pending, input]);
        continue;
      }
      if (input.notification && !state.resumed?.includes(input.notification.id)) {
        send(ws, { type: 'notification', notification: input.notification });
      }
      if (countIsNew) send(ws, { type: 'unreadCount', count: input.unread.count });
      delivered += 1;
    }
    return { delivered, duplicate: false };
  }

  /**
   * The account is gone: close every socket and forget everything the hub holds, unspent tickets included, so
   * nothing issued before the deletion can still open a socket. Returns how many sockets were closed.
   */
  closeAll(): number {
    const sockets = this.openSockets();
    for (const { ws } of sockets) closeQuietly(ws, STREAM_CLOSE.accountClosed, 'Account deleted');
    for (const [key] of this.kv.list({ prefix: 'ticket:' })) this.kv.delete(key);
    this.forgetSocketState();
    return sockets.length;
  }

  // ───────────────────────────── socket events ─────────────────────────────

  /** Pings that are not the exact auto-response text still get a pong; anything else is ignored. */
  override webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): void {
    if (typeof message !== 'string' || message.length > 256) return;
    const text = message.trim();
    if (text === 'ping') return send(ws, { type: 'pong' });
    try {
      if ((JSON.parse(text) as { type?: unknown })?.type === 'ping') send(ws, { type: 'pong' });
    } catch {
      // not JSON: ignored
    }
  }

  override webSocketClose(ws: WebSocket, code: number, reason: string): void {
    const state = stateOf(ws);
    if (state) this.kv.delete(KEY.pending(state.id));
    // Complete the closing handshake (1005/1006/1015 are reserved: they cannot be sent back).
    closeQuietly(ws, code === 1005 || code === 1006 || code === 1015 ? 1000 : code, reason);
  }

  override webSocketError(ws: WebSocket): void {
    const state = stateOf(ws);
    if (state) this.kv.delete(KEY.pending(state.id));
  }

  /**
   * Heartbeat to every live socket, close sockets whose resume never completed or that reached their maximum
   * age, expire tickets and remembered ids. With no socket left the object keeps only its owner and unexpired
   * tickets.
   */
  override async alarm(): Promise<void> {
    const now = Date.now();
    const sockets = this.openSockets();
    const heartbeat: StreamMessage = { type: 'heartbeat', at: new Date(now).toISOString() };
    let open = 0;
    for (const { ws, state } of sockets) {
      if (now - state.connectedAt >= STREAM_POLICY.maxSocketAgeMs) {
        this.kv.delete(KEY.pending(state.id));
        closeQuietly(ws, STREAM_CLOSE.reauthenticate, 'Reconnect with a new ticket');
      } else if (state.live) {
        send(ws, heartbeat);
        open += 1;
      } else if (now - state.connectedAt >= STREAM_POLICY.catchUpTimeoutMs) {
        this.kv.delete(KEY.pending(state.id));
        closeQuietly(ws, STREAM_CLOSE.catchUpFailed, 'Resume failed, reconnect');
      } else {
        open += 1;
      }
    }
    let next = open > 0 ? now + STREAM_POLICY.heartbeatMs : Infinity;
    for (const [key, expiresAt] of this.kv.list<number>({ prefix: 'ticket:' })) {
      if (expiresAt <= now) this.kv.delete(key);
      else next = Math.min(next, expiresAt);
    }
    if (open === 0) {
      this.forgetSocketState();
    } else {
      for (const [key, expiresAt] of this.kv.list<number>({ prefix: 'seen:' })) if (expiresAt <= now) this.kv.delete(key);
    }
    if (next !== Infinity) await this.ctx.storage.setAlarm(next);
  }

  // ───────────────────────────── internals ─────────────────────────────

  private openSockets(): { ws: WebSocket; state: SocketState }[] {
    const out: { ws: WebSocket; state: SocketState }[] = [];
    for (const ws of this.ctx.getWebSockets()) {
      const state = stateOf(ws);
      if (state && ws.readyState === OPEN) out.push({ ws, state });
    }
    return out.sort((a, b) => a.state.seq - b.state.seq);
  }

  /** At most `max` open sockets: the oldest beyond that are closed. */
  private enforceSocketCap(max: number): void {
    const sockets = this.openSockets();
    for (const { ws, state } of sockets.slice(0, Math.max(0, sockets.length - max))) {
      this.kv.delete(KEY.pending(state.id));
      closeQuietly(ws, STREAM_CLOSE.tooMany, 'Too many connections: the oldest was closed');
    }
  }

  /** With no socket left: what only open sockets need (remembered ids, buffered pushes, the last count). */
  private forgetSocketState(): void {
    for (const prefix of ['pending:', 'seen:']) for (const [key] of this.kv.list({ prefix })) this.kv.delete(key);
    this.kv.delete(KEY.unread);
  }

    private async scheduleAlarm(at: number): Promise<void> {
    const existing = await this.ctx.storage.getAlarm();
    if (existing === null || existing > at) await this.ctx.storage.setAlarm(at);
  }
}

function stateOf(ws: WebSocket): SocketState | null {
  return (ws.deserializeAttachment() as SocketState | null) ?? null;
}

function newer(a: UnreadCount, b: UnreadCount | undefined): UnreadCount {
  return b && b.at > a.at ? b : a;
}

function send(ws: WebSocket, message: StreamMessage): void {
  try {
    ws.send(JSON.stringify(message));
  } catch {
    // The socket closed under us: its close event cleans up.
  }
}

function closeQuietly(ws: WebSocket, code: number, reason: string): void {
  try {
    ws.close(code, reason);
  } catch {
    // already closed
  }
}

/** The NOTIFICATION_HUB binding with its class (config.ts declares it untyped so it never imports this module). */
const namespace = (env: Env) => env.NOTIFICATION_HUB as DurableObjectNamespace<NotificationHub>;

/** The stub of a user's hub. */
export function notificationHub(env: Env, userId: string): DurableObjectStub<NotificationHub> {
  return namespace(env).get(env.NOTIFICATION_HUB.idFromName(userId));
}

/** The stub for a hub id taken from a ticket; null when it is not an id of this namespace. */
export function notificationHubById(env: Env, hubId: string): DurableObjectStub<NotificationHub> | null {
  try {
    return namespace(env).get(env.NOTIFICATION_HUB.idFromString(hubId));
  } catch {
    return null;
  }
}
