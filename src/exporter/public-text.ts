// Text from inside the daemon (an error's words, a server's or shell's output) as it may appear in an
// HTTP body, which anyone who can reach the port reads when auth is off (the default): no file paths
// (a key, password or known_hosts file), no SSH user names (`user@host`), and no control characters
// (a shell's escape sequences would reach a terminal running `curl /probe?debug=true` raw). The
// daemon's log keeps the full text (file names, never file contents).

/** Control characters (C0 but tab, DEL, C1) as visible escapes: ESC → \x1b, newline → \n. */
export function escapeControl(text: string): string {
  // eslint-disable-next-line no-control-regex -- matching control characters is this function's job
  return text.replace(/[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/g, (c) => {
    if (c === '\n') return '\\n';
    if (c === '\r') return '\\r';
    return `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
  });
}

const PATH = /(^|[\s'"(=,[])(~?\/[^\s'"(),;\]]*[^\s'"(),;.\]:])/g;
const USER_AT = /(^|[\s'"(=,[])[^\s'"(=,[@/]+@(?=[\w[])/g;

/** `text` without paths and user names, control characters escaped. */
export function publicText(text: string): string;
export function publicText(text: string | null): string | null;
export function publicText(text: string | null): string | null {
  if (text === null) return null;
  return escapeControl(text.replace(PATH, '$1<file>').replace(USER_AT, '$1<user>@'));
}

/** Keys whose string values carry text from inside the daemon (errors, reasons, anomalies). */
const FREE_TEXT_KEYS = new Set(['error', 'reason', 'message', 'detail', 'anomalies', 'contradictions']);

/**
 * A JSON value for an HTTP body: every string under a free-text key (see FREE_TEXT_KEYS, also inside
 * arrays) through publicText; the rest (names, hosts, times) as it is. Generic over the job kinds'
 * presenters, so a kind added later is covered without knowing where its errors are.
 */
export function publicJson<T>(value: T): T {
  const walk = (v: unknown, freeText: boolean): unknown => {
    if (typeof v === 'string') return freeText ? publicText(v) : v;
    if (Array.isArray(v)) return v.map((item) => walk(item, freeText));
    if (v !== null && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, child] of Object.entries(v)) out[k] = walk(child, FREE_TEXT_KEYS.has(k));
      return out;
    }
    return v;
  };
  return walk(value, false) as T;
}
