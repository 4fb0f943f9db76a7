// .dev.vars (KEY=value lines, optionally quoted; "…" may hold \n escapes) and the local stack settings in it.

export function parseVars(text) {
  const vars = {};
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Za-z_][\w]*)\s*=\s*(.*?)\s*$/.exec(line);
    if (!m || line.trimStart().startsWith('#')) continue;
    let v = m[2];
    if (/^".*"$/.test(v)) v = v.slice(1, -1).replaceAll('\\n', '\n');
    else if (/^'.*'$/.test(v)) v = v.slice(1, -1);
    vars[m[1]] = v;
  }
  return vars;
}

/** True when the URL points at this machine (127.0.0.1 / localhost). */
export const isLocalUrl = (u) => { try { return ['127.0.0.1', 'localhost'].includes(new URL(u).hostname); } catch { return false; } };
/** The URL's port, or `dflt` when it has none or does not parse. */
export const portOf = (u, dflt) => { try { return Number(new URL(u).port) || dflt; } catch { return dflt; } };

export const DEFAULT_DATABASE_URL = 'postgres://postgres:postgres@127.0.0.1:54329/fairarena';
