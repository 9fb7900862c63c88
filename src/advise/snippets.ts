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
