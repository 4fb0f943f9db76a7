/** Trusted HTML that `html` will not escape (only ever produced by `html` itself or `raw`). */
export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(value: unknown): string {
  return String(value ?? '').replace(/[&<>"']/g, (ch) => ESCAPES[ch]!);
}

/** Tagged template: every interpolated value is escaped unless it is SafeHtml (user text in an email must never become markup). */
export function html(strings: TemplateStringsArray, ...values: unknown[]): SafeHtml {
  let out = strings[0]!;
  values.forEach((v, i) => {
    const rendered = Array.isArray(v) ? v.map((x) => (x instanceof SafeHtml ? x.value : escapeHtml(x))).join('') : v instanceof SafeHtml ? v.value : escapeHtml(v);
    out += rendered + strings[i + 1]!;
  });
  return new SafeHtml(out);
}

/** Only for constant markup written in this codebase, never for user input. */
export function raw(markup: string): SafeHtml {
  return new SafeHtml(markup);
}

/** A URL safe to put in an href: http(s) only, else '#'. */
export function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    return u.protocol === 'https:' || u.protocol === 'http:' ? u.toString() : '#';
  } catch {
    return '#';
  }
}
