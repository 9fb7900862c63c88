// Text from inside the daemon (an error's words, a server's or shell's output) as it may appear in an
// HTTP body, which anyone who can reach the port reads when auth is off (the default): no file paths
// (a key, password or known_hosts file), no SSH user names (`user@host`), and no control characters
// (a shell's escape sequences would reach a terminal running `curl /probe?debug=true` raw). The
// daemon's log keeps the full text (file names, never file contents).

/** Control characters (C0 but tab, DEL, C1) as visible escapes: ESC → \x1b, newline → \n. */
export function escapeControl(text: string): string {
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
