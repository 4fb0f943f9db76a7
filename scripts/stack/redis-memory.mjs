// In-memory Redis for the local stack when no redis-server is available: strings, hashes and sorted sets
// with expiry, plus EVAL / EVALSHA / SCRIPT running real Lua (fengari, a Lua VM in JS) with Redis' rules
// for converting between Lua values and replies, so @upstash/ratelimit's scripts limit exactly as they do
// on redis-server. Single process, not persisted.
//
// Engine interface (used by upstash-bridge.mjs): call(cmd) / pipeline(cmds) / multi(cmds) / close(), where a
// command is an array of strings. Replies: number (integer), string, null, array; errors are thrown.
import { createHash } from 'node:crypto';
import fengari from 'fengari';

const { lua, lauxlib, lualib, to_luastring: luaStr, to_jsstring: jsStr } = fengari;

export class RedisReplyError extends Error {
  constructor(message) {
    super(message);
    this.name = 'ReplyError';
  }
}
const fail = (msg) => { throw new RedisReplyError(msg); };

/** A status reply (`+OK`): a plain string on the wire, `{ok = …}` inside Lua. */
class Status { constructor(text) { this.text = text; } }
/** An error reply nested in a script's result (top-level errors are thrown). */
class ErrorReply { constructor(text) { this.text = text; } }
const OK = new Status('OK');

const sha1 = (s) => createHash('sha1').update(s).digest('hex');
const SCRIPT_TIME_LIMIT_MS = 5000;

export function memoryRedisEngine({ scriptTimeLimitMs = SCRIPT_TIME_LIMIT_MS } = {}) {
  const db = new Map(); // key -> { type: 'string'|'hash'|'zset', v, exp?: ms epoch }
  const WRONGTYPE = 'WRONGTYPE Operation against a key holding the wrong kind of value';
  const live = (k) => {
    const e = db.get(k);
    if (e?.exp !== undefined && e.exp <= Date.now()) { db.delete(k); return undefined; }
    return e;
  };
  // Expired keys go when touched, and in a sweep now and then (rate-limit windows are rarely read again).
  const sweep = setInterval(() => { for (const k of db.keys()) live(k); }, 60_000);
  sweep.unref();
  const get = (k, type) => { const e = live(k); if (e && e.type !== type) fail(WRONGTYPE); return e; };
  const obtain = (k, type, init) => get(k, type) ?? (db.set(k, { type, v: init() }), db.get(k));
  const int = (s) => (/^-?\d+$/.test(s) && Number.isSafeInteger(Number(s)) ? Number(s) : fail('ERR value is not an integer or out of range'));
  const num = (s) => {
    const t = String(s).toLowerCase();
    const n = t === '+inf' || t === 'inf' ? Infinity : t === '-inf' ? -Infinity : Number(t);
    return Number.isNaN(n) || t === '' ? fail('ERR value is not a valid float') : n;
  };
  const fmt = (n) => (n === Infinity ? 'inf' : n === -Infinity ? '-inf' : String(n));
  const bound = (s) => (String(s).startsWith('(') ? { v: num(s.slice(1)), ex: true } : { v: num(s), ex: false });
  const inRange = (x, lo, hi) => (lo.ex ? x > lo.v : x >= lo.v) && (hi.ex ? x < hi.v : x <= hi.v);
  const sorted = (z) => [...z.v].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const glob = (p) => new RegExp(`^${p.replace(/\\(.)|([.+^${}()|\\/])|\*|\?/g, (m, esc, lit) => (esc ? `\\${esc}` : lit ? `\\${lit}` : m === '*' ? '.*' : '.'))}$`, 's');
  const arity = (name, args, min) => { if (args.length < min) fail(`ERR wrong number of arguments for '${name.toLowerCase()}' command`); };
  const incrBy = (k, by) => {
    const e = get(k, 'string');
    const n = (e ? int(e.v) : 0) + by;
    if (!Number.isSafeInteger(n)) fail('ERR increment or decrement would overflow');
    if (e) e.v = String(n); else db.set(k, { type: 'string', v: String(n) });
    return n;
  };
  const expire = (k, ms) => { const e = live(k); if (!e) return 0; if (ms <= 0) db.delete(k); else e.exp = Date.now() + ms; return 1; };
  const ttl = (k, unit) => { const e = live(k); return !e ? -2 : e.exp === undefined ? -1 : Math.round((e.exp - Date.now()) / unit); };
  const setWithTtl = (k, v, ms) => {
    if (ms <= 0) fail('ERR invalid expire time in command');
    db.set(k, { type: 'string', v, exp: Date.now() + ms });
    return OK;
  };

  const cmds = {
    PING: (msg) => (msg === undefined ? new Status('PONG') : msg),
    ECHO: (msg) => msg,
    TYPE: (k) => new Status(live(k)?.type ?? 'none'),
    GET: (k) => get(k, 'string')?.v ?? null,
    SET: (k, v, ...opts) => {
      let exp, nx = false, xx = false, keep = false, getOld = false;
      for (let i = 0; i < opts.length; i++) {
        const o = opts[i].toUpperCase();
        if (o === 'EX' || o === 'PX') {
          const n = int(opts[++i] ?? fail('ERR syntax error'));
          if (n <= 0) fail("ERR invalid expire time in 'set' command");
          exp = Date.now() + n * (o === 'EX' ? 1000 : 1);
        } else if (o === 'NX') nx = true; else if (o === 'XX') xx = true;
        else if (o === 'KEEPTTL') keep = true; else if (o === 'GET') getOld = true;
        else fail('ERR syntax error');
      }
      const cur = getOld ? get(k, 'string') : live(k);
      if ((nx && cur) || (xx && !cur)) return getOld ? cur?.v ?? null : null;
      db.set(k, { type: 'string', v, exp: keep ? cur?.exp : exp });
      return getOld ? cur?.v ?? null : OK;
    },
    SETEX: (k, s, v) => setWithTtl(k, v, int(s) * 1000),
    PSETEX: (k, ms, v) => setWithTtl(k, v, int(ms)),
    MGET: (...ks) => ks.map((k) => { const e = live(k); return e?.type === 'string' ? e.v : null; }),
    DEL: (...ks) => ks.filter((k) => live(k) && db.delete(k)).length,
    EXISTS: (...ks) => ks.filter((k) => live(k)).length,
    INCR: (k) => incrBy(k, 1),
    DECR: (k) => incrBy(k, -1),
    INCRBY: (k, by) => incrBy(k, int(by)),
    DECRBY: (k, by) => incrBy(k, -int(by)),
    EXPIRE: (k, s) => expire(k, int(s) * 1000),
    PEXPIRE: (k, ms) => expire(k, int(ms)),
    PERSIST: (k) => { const e = live(k); if (!e || e.exp === undefined) return 0; delete e.exp; return 1; },
    TTL: (k) => ttl(k, 1000),
    PTTL: (k) => ttl(k, 1),
    HSET: (k, ...fv) => {
      if (!fv.length || fv.length % 2) fail("ERR wrong number of arguments for 'hset' command");
      const h = obtain(k, 'hash', () => new Map()).v;
      let added = 0;
      for (let i = 0; i < fv.length; i += 2) { if (!h.has(fv[i])) added++; h.set(fv[i], fv[i + 1]); }
      return added;
    },
    HGET: (k, f) => get(k, 'hash')?.v.get(f) ?? null,
    HMGET: (k, ...fs) => { arity('HMGET', fs, 1); const h = get(k, 'hash')?.v; return fs.map((f) => h?.get(f) ?? null); },
    HGETALL: (k) => [...(get(k, 'hash')?.v ?? [])].flat(),
    HDEL: (k, ...fs) => {
      const e = get(k, 'hash');
      if (!e) return 0;
      const n = fs.filter((f) => e.v.delete(f)).length;
      if (!e.v.size) db.delete(k);
      return n;
    },
    HINCRBY: (k, f, by) => {
      const h = obtain(k, 'hash', () => new Map()).v;
      const n = (h.has(f) ? int(h.get(f)) : 0) + int(by);
      h.set(f, String(n));
      return n;
    },
    ZADD: (k, ...args) => {
      const flags = new Set();
      while (args.length && ['NX', 'XX', 'GT', 'LT', 'CH'].includes(args[0].toUpperCase())) flags.add(args.shift().toUpperCase());
      if (!args.length || args.length % 2) fail('ERR syntax error');
      const z = obtain(k, 'zset', () => new Map()).v;
      let added = 0, changed = 0;
      for (let i = 0; i < args.length; i += 2) {
        const score = num(args[i]), m = args[i + 1], old = z.get(m);
        if ((flags.has('NX') && old !== undefined) || (flags.has('XX') && old === undefined)) continue;
        if (old !== undefined && ((flags.has('GT') && score <= old) || (flags.has('LT') && score >= old))) continue;
        if (old === undefined) added++; else if (old !== score) changed++;
        z.set(m, score);
      }
      if (!z.size) db.delete(k);
      return flags.has('CH') ? added + changed : added;
    },
    ZRANGE: (k, start, stop, ...opts) => {
      const o = opts.map((x) => x.toUpperCase());
      const byScore = o.includes('BYSCORE'), rev = o.includes('REV'), withScores = o.includes('WITHSCORES');
      if (o.includes('BYLEX')) fail('ERR BYLEX is not supported by the in-memory engine');
      const li = o.indexOf('LIMIT');
      const e = get(k, 'zset');
      let list = e ? sorted(e) : [];
      if (rev) list.reverse();
      if (byScore) {
        const [lo, hi] = rev ? [bound(stop), bound(start)] : [bound(start), bound(stop)];
        list = list.filter(([, s]) => inRange(s, lo, hi));
        if (li >= 0) {
          const off = int(opts[li + 1]), cnt = int(opts[li + 2]);
          list = list.slice(off, cnt < 0 ? undefined : off + cnt);
        }
      } else {
        const n = list.length;
        let a = int(start), b = int(stop);
        if (a < 0) a = Math.max(0, n + a);
        if (b < 0) b = n + b;
        list = list.slice(a, Math.min(b, n - 1) + 1);
      }
      return withScores ? list.flatMap(([m, s]) => [m, fmt(s)]) : list.map(([m]) => m);
    },
    ZREM: (k, ...ms) => {
      const e = get(k, 'zset');
      if (!e) return 0;
      const n = ms.filter((m) => e.v.delete(m)).length;
      if (!e.v.size) db.delete(k);
      return n;
    },
    ZCARD: (k) => get(k, 'zset')?.v.size ?? 0,
    ZSCORE: (k, m) => { const s = get(k, 'zset')?.v.get(m); return s === undefined ? null : fmt(s); },
    ZREMRANGEBYSCORE: (k, min, max) => {
      const e = get(k, 'zset');
      if (!e) return 0;
      const lo = bound(min), hi = bound(max);
      let n = 0;
      for (const [m, s] of e.v) if (inRange(s, lo, hi)) { e.v.delete(m); n++; }
      if (!e.v.size) db.delete(k);
      return n;
    },
    SCAN: (_cursor, ...opts) => {
      let re = null, type = null;
      for (let i = 0; i < opts.length; i += 2) {
        const o = opts[i].toUpperCase();
        if (o === 'MATCH') re = glob(opts[i + 1]); else if (o === 'TYPE') type = opts[i + 1].toLowerCase();
        else if (o !== 'COUNT') fail('ERR syntax error');
      }
      return ['0', [...db.keys()].filter((k) => { const e = live(k); return e && (!re || re.test(k)) && (!type || e.type === type); })];
    },
    KEYS: (p) => cmds.SCAN('0', 'MATCH', p)[1],
    DBSIZE: () => [...db.keys()].filter((k) => live(k)).length,
    FLUSHDB: () => { db.clear(); return OK; },
    FLUSHALL: () => { db.clear(); return OK; },
  };

  // ---- scripting ---------------------------------------------------------------------------------
  const scripting = luaScripting((cmd) => execute(cmd, true), scriptTimeLimitMs);
  const evalArgs = (numkeys, rest) => {
    const n = int(numkeys ?? fail("ERR wrong number of arguments for 'eval' command"));
    if (n < 0) fail("ERR Number of keys can't be negative");
    if (n > rest.length) fail("ERR Number of keys can't be greater than number of args");
    return [rest.slice(0, n), rest.slice(n)];
  };
  const evalScript = (script, numkeys, ...rest) => scripting.run(scripting.load(script ?? ''), ...evalArgs(numkeys, rest));
  const evalSha = (sha, numkeys, ...rest) => scripting.run(String(sha ?? '').toLowerCase(), ...evalArgs(numkeys, rest));
  Object.assign(cmds, {
    EVAL: evalScript,
    EVAL_RO: evalScript,
    EVALSHA: evalSha,
    EVALSHA_RO: evalSha,
    SCRIPT: (sub = '', ...args) => {
      switch (sub.toUpperCase()) {
        case 'LOAD': arity('SCRIPT|LOAD', args, 1); return scripting.load(args[0]);
        case 'EXISTS': arity('SCRIPT|EXISTS', args, 1); return args.map((s) => (scripting.has(s.toLowerCase()) ? 1 : 0));
        case 'FLUSH': scripting.flush(); return OK;
        default: return fail(`ERR unknown subcommand '${sub}'. Try SCRIPT HELP.`);
      }
    },
  });
  // Commands a script may not call (as in Redis).
  const NOT_FROM_SCRIPT = new Set(['EVAL', 'EVAL_RO', 'EVALSHA', 'EVALSHA_RO', 'SCRIPT', 'MULTI', 'EXEC']);

  const lookup = (name) => cmds[String(name).toUpperCase()]
    ?? fail(`ERR unknown command '${name}' (not supported by the in-memory engine; install redis-server or set REDIS_URL)`);
  function execute(cmd, fromScript = false) {
    if (!cmd.length) fail('ERR empty command');
    if (fromScript && NOT_FROM_SCRIPT.has(String(cmd[0]).toUpperCase())) fail('ERR This Redis command is not allowed from script');
    return lookup(cmd[0])(...cmd.slice(1));
  }
  const toWire = (v) => (v instanceof Status || v instanceof ErrorReply ? v.text : Array.isArray(v) ? v.map(toWire) : v);
  const run = (cmd) => { try { return { result: toWire(execute(cmd)) }; } catch (e) { return { error: e.message }; } };

  return {
    call: async (cmd) => toWire(execute(cmd)),
    pipeline: async (list) => list.map(run),
    multi: async (list) => { // all-or-nothing at queue time like Redis; single-threaded, so atomic
      list.forEach((c) => { try { lookup(c[0]); } catch (e) { fail(`EXECABORT Transaction discarded because of previous errors: ${e.message}`); } });
      return list.map(run);
    },
    close: async () => { clearInterval(sweep); db.clear(); scripting.close(); },
  };
}

// ---- Lua ------------------------------------------------------------------------------------------

// Runs once in the Lua state: the `redis` table and the global-variable guard scripts see on Redis.
const PRELUDE = `
local call, pcall_, sha1hex = __redis_call, __redis_pcall, __redis_sha1hex
__redis_call, __redis_pcall, __redis_sha1hex = nil, nil, nil
redis = {
  call = call, pcall = pcall_, sha1hex = sha1hex,
  error_reply = function(msg) return { err = msg } end,
  status_reply = function(msg) return { ok = msg } end,
  log = function() end, LOG_DEBUG = 0, LOG_VERBOSE = 1, LOG_NOTICE = 2, LOG_WARNING = 3,
}
unpack = table.unpack -- the Lua 5.1 name Redis scripts use
dofile, loadfile = nil, nil
setmetatable(_G, {
  __newindex = function(_, name) error("Script attempted to create global variable '" .. tostring(name) .. "'", 2) end,
  __index = function(_, name) error("Script attempted to access nonexistent global variable '" .. tostring(name) .. "'", 2) end,
})
`;

/**
 * One Lua state holding the compiled scripts (by SHA1 of their text, as Redis does). `exec(cmd)` runs a
 * command for redis.call/pcall and returns its reply or throws.
 */
function luaScripting(exec, timeLimitMs) {
  const L = lauxlib.luaL_newstate();
  // The libraries Redis gives scripts: no io, os, package or debug.
  for (const [name, open] of [['_G', lualib.luaopen_base], [lualib.LUA_TABLIBNAME, lualib.luaopen_table],
    [lualib.LUA_STRLIBNAME, lualib.luaopen_string], [lualib.LUA_MATHLIBNAME, lualib.luaopen_math]]) {
    lauxlib.luaL_requiref(L, luaStr(name), open, 1);
    lua.lua_pop(L, 1);
  }

  const raise = (L, msg) => { pushTable(L, { err: msg }); return lua.lua_error(L); };
  const redisCall = (raiseErrors) => (L) => {
    const n = lua.lua_gettop(L);
    if (n === 0) return raise(L, 'ERR Please specify at least one argument for this redis lib call');
    const args = [];
    for (let i = 1; i <= n; i++) {
      const t = lua.lua_type(L, i);
      if (t === lua.LUA_TSTRING) args.push(jsStr(lua.lua_tostring(L, i)));
      else if (t === lua.LUA_TNUMBER) args.push(numberArg(L, i));
      else return raise(L, 'ERR Lua redis lib command arguments must be strings or integers');
    }
    let reply;
    try { reply = exec(args); } catch (e) {
      if (raiseErrors) return raise(L, e.message);
      reply = new ErrorReply(e.message);
    }
    pushReply(L, reply);
    return 1;
  };
  const register = (name, fn) => { lua.lua_pushjsfunction(L, fn); lua.lua_setglobal(L, luaStr(name)); };
  register('__redis_call', redisCall(true));
  register('__redis_pcall', redisCall(false));
  register('__redis_sha1hex', (L) => {
    if (lua.lua_gettop(L) !== 1) return lauxlib.luaL_error(L, luaStr('wrong number of arguments'));
    lua.lua_pushstring(L, luaStr(sha1(jsStr(lauxlib.luaL_tolstring(L, 1)))));
    return 1;
  });
  if (lauxlib.luaL_dostring(L, luaStr(PRELUDE)) !== lua.LUA_OK) throw new Error(`lua prelude: ${lua.lua_tojsstring(L, -1)}`);

  // A runaway script would freeze this single-threaded process (and with it every local request): stop it.
  let deadline = Infinity;
  lua.lua_sethook(L, (L) => {
    if (Date.now() > deadline) raise(L, `BUSY script ran longer than ${timeLimitMs} ms and was stopped (in-memory engine)`);
  }, lua.LUA_MASKCOUNT, 10_000);

  const scripts = new Map(); // sha1 -> registry reference of the compiled chunk

  return {
    has: (sha) => scripts.has(sha),
    /** Compile and cache a script; returns its SHA1 (of the text as sent, shebang included). */
    load(script) {
      const sha = sha1(script);
      if (scripts.has(sha)) return sha;
      let body = script;
      if (script.startsWith('#!')) {
        // Redis 7 shebang `#!lua flags=…`. Flags only matter to a cluster (Upstash adds allow-key-locking,
        // which Redis itself rejects), so they are ignored; the line stays empty to keep line numbers.
        if (!/^#!lua(\s|$)/.test(script)) fail('ERR Could not find engine in script shebang');
        body = script.replace(/^[^\n]*/, '');
      }
      const buf = luaStr(body);
      if (lauxlib.luaL_loadbuffer(L, buf, buf.length, luaStr('@user_script')) !== lua.LUA_OK) {
        const msg = lua.lua_tojsstring(L, -1);
        lua.lua_pop(L, 1);
        fail(`ERR Error compiling script (new function): ${msg}`);
      }
      scripts.set(sha, lauxlib.luaL_ref(L, lua.LUA_REGISTRYINDEX));
      return sha;
    },
    run(sha, keys, argv) {
      const ref = scripts.get(sha) ?? fail('NOSCRIPT No matching script. Please use EVAL.');
      setGlobalArray(L, 'KEYS', keys);
      setGlobalArray(L, 'ARGV', argv);
      lua.lua_rawgeti(L, lua.LUA_REGISTRYINDEX, ref);
      deadline = Date.now() + timeLimitMs;
      const status = lua.lua_pcall(L, 0, 1, 0);
      deadline = Infinity;
      try {
        if (status !== lua.LUA_OK) {
          const err = errorText(L);
          fail(`${/^[A-Z][A-Z_]* /.test(err) ? err : `ERR ${err}`} script: ${sha}`);
        }
        const out = fromLua(L);
        if (out instanceof ErrorReply) fail(out.text);
        return out;
      } finally {
        lua.lua_settop(L, 0);
      }
    },
    flush() {
      for (const ref of scripts.values()) lauxlib.luaL_unref(L, lua.LUA_REGISTRYINDEX, ref);
      scripts.clear();
    },
    close() { scripts.clear(); lua.lua_close(L); },
  };
}

/** A Lua number as a command argument: integers as digits, other numbers in their shortest form. */
function numberArg(L, i) {
  if (lua.lua_isinteger(L, i)) return String(lua.lua_tointeger(L, i));
  const n = lua.lua_tonumber(L, i);
  return Number.isFinite(n) ? String(n) : Number.isNaN(n) ? 'nan' : n > 0 ? 'inf' : '-inf';
}

/** Push a reply as Redis gives it to Lua: nil → false, status → {ok=…}, error → {err=…}, array → table. */
function pushReply(L, v) {
  if (v === null || v === undefined) lua.lua_pushboolean(L, false);
  // fengari integers are 32-bit: larger values go in as floats (exact up to 2^53, as on Redis' Lua 5.1).
  else if (typeof v === 'number') {
    if (Number.isInteger(v) && Math.abs(v) <= 0x7fffffff) lua.lua_pushinteger(L, v); else lua.lua_pushnumber(L, v);
  } else if (v instanceof Status) pushTable(L, { ok: v.text });
  else if (v instanceof ErrorReply) pushTable(L, { err: v.text });
  else if (Array.isArray(v)) {
    lua.lua_createtable(L, v.length, 0);
    v.forEach((x, i) => { pushReply(L, x); lua.lua_rawseti(L, -2, i + 1); });
  } else lua.lua_pushstring(L, luaStr(String(v)));
}

function pushTable(L, fields) {
  lua.lua_createtable(L, 0, Object.keys(fields).length);
  for (const [k, v] of Object.entries(fields)) { lua.lua_pushstring(L, luaStr(v)); lua.lua_setfield(L, -2, luaStr(k)); }
}

function setGlobalArray(L, name, items) {
  lua.lua_pushglobaltable(L);
  lua.lua_pushstring(L, luaStr(name));
  pushReply(L, items);
  lua.lua_rawset(L, -3); // raw: past the global-variable guard
  lua.lua_pop(L, 1);
}

/** The error a failed script left on the stack: an {err=…} table from redis.call, or a message. */
function errorText(L) {
  if (lua.lua_type(L, -1) === lua.LUA_TTABLE) {
    lua.lua_getfield(L, -1, luaStr('err'));
    const text = lua.lua_type(L, -1) === lua.LUA_TSTRING ? lua.lua_tojsstring(L, -1) : 'unknown error';
    lua.lua_pop(L, 1);
    return text;
  }
  return lua.lua_tojsstring(L, -1) ?? 'unknown error';
}

/**
 * The Lua value on top of the stack as Redis replies with it: numbers are truncated to integers, true is
 * 1 and false nil, {err=…} / {ok=…} are error / status replies, other tables are arrays up to the first nil.
 */
function fromLua(L) {
  switch (lua.lua_type(L, -1)) {
    case lua.LUA_TNUMBER: return Math.trunc(lua.lua_tonumber(L, -1));
    case lua.LUA_TSTRING: return jsStr(lua.lua_tostring(L, -1));
    case lua.LUA_TBOOLEAN: return lua.lua_toboolean(L, -1) ? 1 : null;
    case lua.LUA_TTABLE: {
      for (const [field, Kind] of [['err', ErrorReply], ['ok', Status]]) {
        lua.lua_getfield(L, -1, luaStr(field));
        const isString = lua.lua_type(L, -1) === lua.LUA_TSTRING;
        const text = isString ? lua.lua_tojsstring(L, -1) : null;
        lua.lua_pop(L, 1);
        if (isString) return new Kind(text);
      }
      const out = [];
      for (let i = 1; ; i++) {
        lua.lua_rawgeti(L, -1, i);
        if (lua.lua_isnil(L, -1)) { lua.lua_pop(L, 1); break; }
        out.push(fromLua(L));
        lua.lua_pop(L, 1);
      }
      return out;
    }
    default: return null;
  }
}
