// Ready-to-paste configuration snippets for a recommendation. Pure text; a lab test feeds the client
// snippet to `ssh -G -F snippet host` to prove OpenSSH reads back exactly these values.
import type { Recommendation } from './recommend.ts';

export interface SnippetTarget {
  /** The name users type after `ssh` (matched by the `Host` pattern). */
  hostPattern: string;
  /** The real host name/address, when it differs from the pattern. */
  hostName?: string;
  port?: number;
  user?: string;
}

/** ~/.ssh/config block. */
export function sshClientSnippet(t: SnippetTarget, r: Recommendation): string {
  assertConfigToken('host', t.hostPattern);
  const lines = [
    `# idleprobe: heartbeat every ${r.intervalSeconds} s, give up after ${r.countMax} unanswered (${r.toleranceSeconds} s)`,
    `Host ${t.hostPattern}`,
  ];
  if (t.hostName && t.hostName !== t.hostPattern) {
    assertConfigToken('hostname', t.hostName);
    lines.push(`    HostName ${t.hostName}`);
  }
  if (t.port !== undefined && t.port !== 22) lines.push(`    Port ${t.port}`);
  if (t.user) {
    assertConfigToken('user', t.user);
    lines.push(`    User ${t.user}`);
  }
  lines.push(`    ServerAliveInterval ${r.intervalSeconds}`, `    ServerAliveCountMax ${r.countMax}`);
  return lines.join('\n') + '\n';
}

/** sshd_config lines (server side: the same heartbeat, sent by the server). */
export function sshdConfigSnippet(r: Recommendation): string {
  return (
    [
      `# idleprobe: server heartbeat every ${r.intervalSeconds} s, drop a client after ${r.countMax} unanswered (${r.toleranceSeconds} s)`,
      `# Put before any Match block; then reload sshd (Debian: systemctl reload ssh) — an edit alone changes nothing.`,
      `ClientAliveInterval ${r.intervalSeconds}`,
      `ClientAliveCountMax ${r.countMax}`,
    ].join('\n') + '\n'
  );
}

/** One whitespace-free token: anything else would silently change the meaning of the config line. */
function assertConfigToken(what: string, value: string): void {
  if (!/^[^\s"#]+$/.test(value)) throw new RangeError(`${what} ${JSON.stringify(value)} cannot be written into an ssh config line`);
}

/** The clients people really use for the sessions that die, each with the recommended heartbeat. */
export interface ClientSettings {
  sftp: string;
  scp: string;
  rsync: string;
  putty: string;
  winscp: string;
  filezilla: string;
}

export function clientSettings(t: SnippetTarget, r: Recommendation): ClientSettings {
  const host = t.hostName && t.hostName !== t.hostPattern && t.hostPattern !== '*' ? t.hostPattern : (t.hostName ?? t.hostPattern);
  assertConfigToken('host', host);
  if (t.user) assertConfigToken('user', t.user);
  const dest = `${t.user ? `${t.user}@` : ''}${host}`;
  const opts = `-o ServerAliveInterval=${r.intervalSeconds} -o ServerAliveCountMax=${r.countMax}`;
  const port = t.port !== undefined && t.port !== 22 ? t.port : null;
  return {
    sftp: `sftp ${port ? `-P ${port} ` : ''}${opts} ${dest}`,
    scp: `scp ${port ? `-P ${port} ` : ''}${opts} FILE ${dest}:PATH`,
    rsync: `rsync -e 'ssh ${port ? `-p ${port} ` : ''}${opts}' SRC ${dest}:DST`,
    putty: `PuTTY: Connection → "Seconds between keepalives (0 to turn off)": ${r.intervalSeconds} (null packets; PuTTY has no CountMax), then save the session.`,
    winscp: `WinSCP: Advanced Site Settings → Connection → Keepalives: "Sending of null SSH packets", "Seconds between keepalives": ${r.intervalSeconds}.`,
    filezilla:
      `FileZilla: its keep-alive option ("Send FTP keep-alive commands", Settings → Connection → FTP) covers FTP connections only; for SFTP there is no documented equivalent — ` +
      `let the server send them (ClientAliveInterval ${r.intervalSeconds}, the sshd_config lines above) or use sftp/WinSCP as shown.`,
  };
}
