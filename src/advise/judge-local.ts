// Judgements of the local SSH setup against the path's idle timeout: the *effective* client
// heartbeat (`ssh -G`), the server's (`sshd -T`) and whether the running sshd predates its config,
// and the kernel's TCP keepalive timer. Pure: the I/O lives in local-checks.ts.
import { intOf, stringOf, type ConfigDump } from '../probe/openssh-dump.ts';
import type { Recommendation } from './recommend.ts';

export interface Finding {
  level: 'ok' | 'info' | 'warn' | 'problem';
  message: string;
}

export interface ClientEffective {
  /** The name as typed (what Host patterns are matched against). */
  host: string;
  /** What OpenSSH resolved it to (HostName). */
  hostname: string | null;
  serverAliveInterval: number;
  serverAliveCountMax: number;
  tcpKeepAlive: boolean | null;
}

export function clientFromDump(host: string, dump: ConfigDump): ClientEffective {
  const src = `ssh -G ${host}`;
  return {
    host,
    hostname: stringOf(dump, 'hostname'),
    // OpenSSH always prints both; absent would mean a very old ssh — treat as its default.
    serverAliveInterval: intOf(dump, 'serveraliveinterval', src) ?? 0,
    serverAliveCountMax: intOf(dump, 'serveralivecountmax', src) ?? 3,
    tcpKeepAlive: yesNo(stringOf(dump, 'tcpkeepalive')),
  };
}

export interface ServerEffective {
  clientAliveInterval: number;
  clientAliveCountMax: number;
  tcpKeepAlive: boolean | null;
  pidFile: string | null;
}

export function serverFromDump(dump: ConfigDump): ServerEffective {
  return {
    clientAliveInterval: intOf(dump, 'clientaliveinterval', 'sshd -T') ?? 0,
    clientAliveCountMax: intOf(dump, 'clientalivecountmax', 'sshd -T') ?? 3,
    tcpKeepAlive: yesNo(stringOf(dump, 'tcpkeepalive')),
    pidFile: stringOf(dump, 'pidfile'),
  };
}

/** The running sshd as found on this machine (local-checks.ts). */
export interface SshdProcess {
  pidFile: string;
  pid: number | null;
  /** Epoch ms the process started (from /proc); null when not found. */
  startedAtMs: number | null;
  /** Why pid/start time could not be determined. */
  problem: string | null;
}

export interface ConfigFileTime {
  path: string;
  mtimeMs: number;
}

/** Clock slack between /proc's start time (10 ms ticks since a 1 s boot time) and file mtimes. */
const START_TIME_SLACK_MS = 1_500;

export function judgeClient(c: ClientEffective, limitSeconds: number | null, rec: Recommendation | null): Finding[] {
  const out: Finding[] = [];
  const resolved = c.hostname && c.hostname !== c.host ? ` (resolved to HostName ${c.hostname})` : '';
  if (c.serverAliveInterval === 0) {
    out.push({
      level: 'problem',
      message:
        `ServerAliveInterval is 0 (OpenSSH's default: no heartbeats) for "${c.host}"${resolved}, as \`ssh -G ${c.host}\` resolves it. ` +
        `If you did write a Host block with ServerAliveInterval, its pattern never matches "${c.host}": Host patterns are matched against the name ` +
        `exactly as typed after \`ssh\` (not against HostName), and the first value found wins — an earlier "Host *" block or /etc/ssh/ssh_config can set it first.` +
        (rec ? ` Add the ~/.ssh/config snippet.` : ''),
    });
    return out;
  }
  const tol = c.serverAliveInterval * c.serverAliveCountMax;
  if (limitSeconds !== null && c.serverAliveInterval >= limitSeconds) {
    out.push({
      level: 'problem',
      message: `ServerAliveInterval ${c.serverAliveInterval} s for "${c.host}"${resolved} is not below the path's idle timeout (safe limit ${limitSeconds} s): the middlebox forgets the connection before the heartbeat goes out.`,
    });
  } else if (rec && c.serverAliveInterval > rec.intervalSeconds) {
    out.push({
      level: 'warn',
      message: `ServerAliveInterval ${c.serverAliveInterval} s for "${c.host}"${resolved} is below the timeout${limitSeconds !== null ? ` (${limitSeconds} s)` : ''} but above half of it: one lost heartbeat and the session drops. Recommended: ${rec.intervalSeconds} s.`,
    });
  } else {
    out.push({
      level: 'ok',
      message: `ServerAliveInterval ${c.serverAliveInterval} s for "${c.host}"${resolved}${limitSeconds !== null ? `, below the path's idle timeout (${limitSeconds} s)` : ''}; gives up after ${c.serverAliveCountMax} unanswered = ${tol} s.`,
    });
  }
  return out;
}

export function judgeServer(s: ServerEffective, proc: SshdProcess | null, configFiles: ConfigFileTime[], limitSeconds: number | null, rec: Recommendation | null): Finding[] {
  const out: Finding[] = [];
  if (s.clientAliveInterval === 0) {
    out.push({
      level: rec ? 'warn' : 'info',
      message: `sshd: ClientAliveInterval is 0 (no server heartbeats) per \`sshd -T\`; clients must send their own (ServerAliveInterval).`,
    });
  } else if (limitSeconds !== null && s.clientAliveInterval >= limitSeconds) {
    out.push({ level: 'problem', message: `sshd: ClientAliveInterval ${s.clientAliveInterval} s is not below the path's idle timeout (safe limit ${limitSeconds} s).` });
  } else {
    out.push({
      level: 'ok',
      message: `sshd: ClientAliveInterval ${s.clientAliveInterval} s, ClientAliveCountMax ${s.clientAliveCountMax} (drops an unresponsive client after ${s.clientAliveInterval * s.clientAliveCountMax} s).`,
    });
  }
  out.push(...judgeReload(proc, configFiles));
  return out;
}

/** "Edited but not reloaded": the running sshd started before its config was last modified. */
export function judgeReload(proc: SshdProcess | null, configFiles: ConfigFileTime[]): Finding[] {
  if (!proc) return [];
  if (proc.pid === null || proc.startedAtMs === null) {
    return [{ level: 'info', message: `sshd: no running sshd found via ${proc.pidFile}${proc.problem ? ` (${proc.problem})` : ''}; cannot tell whether it runs the current config.` }];
  }
  const newest = [...configFiles].sort((a, b) => b.mtimeMs - a.mtimeMs)[0];
  if (!newest) return [];
  const started = new Date(proc.startedAtMs).toISOString();
  if (newest.mtimeMs > proc.startedAtMs + START_TIME_SLACK_MS) {
    return [
      {
        level: 'problem',
        message:
          `sshd (pid ${proc.pid}) started ${started}, before ${newest.path} was last modified ${new Date(newest.mtimeMs).toISOString()}: ` +
          `edited but not reloaded — the running sshd still uses the old settings (\`sshd -T\` shows the file's). Reload it (Debian: systemctl reload ssh).`,
      },
    ];
  }
  return [{ level: 'ok', message: `sshd (pid ${proc.pid}) started ${started}, after its config was last modified: it runs the current settings.` }];
}

function yesNo(v: string | null): boolean | null {
  if (v === null) return null;
  return v.toLowerCase() === 'yes';
}
