// The answer to "I lowered net.ipv4.tcp_keepalive_time and SFTP still dies": a measured fact when a
// survival matrix with tcp: rows (or a path that closes idle connections itself) says so, otherwise
// exactly when the sysctl can help. Pure; the local values come from local-checks.ts.
//
// Kernel keepalives (OpenSSH's TCPKeepAlive, on by default, sets SO_KEEPALIVE and leaves the timing
// to the sysctls of the host that owns the socket) refresh a NAT or stateful firewall — when the
// value is below the path's idle timeout — and do nothing against a proxy load balancer, whose own
// kernel answers them while its inactivity timer only sees bytes inside the connection.
import type { HeartbeatMatrix } from '../heartbeat/types.ts';
import type { FailureMode } from '../search/types.ts';
import type { Finding } from './judge-local.ts';

export interface TcpKeepaliveInput {
  matrix: HeartbeatMatrix | null;
  /** The path's failure mode from the measurement (closed: it closes idle connections itself — a proxy). */
  failureMode: FailureMode | null;
  /** Safe idle limit of the path, seconds (null: unknown). */
  limitSeconds: number | null;
  /** The recommended SSH heartbeat interval. */
  sshIntervalSeconds: number;
  /** With --check-local: this host's sysctl and ssh's TCPKeepAlive for the checked host. */
  local?: { tcpKeepaliveTimeSeconds: number | null; clientTcpKeepAlive: boolean | null } | null;
}

export interface TcpKeepaliveAdvice extends Finding {
  /** true/false: measured on this path; null: not known (the message says when the sysctl can help). */
  refreshesPath: boolean | null;
  /** Where the fact comes from, in words (null when unknown). */
  evidence: string | null;
}

const SYSCTL = 'net.ipv4.tcp_keepalive_time';

export function tcpKeepaliveAdvice(i: TcpKeepaliveInput): TcpKeepaliveAdvice {
  const fromMatrix = i.matrix?.tcpKeepaliveRefreshesPath ?? null;
  const closes = i.failureMode === 'closed';
  const t = i.limitSeconds;
  const local = i.local ?? null;
  const here = localWords(local, t);

  if (fromMatrix === false || (fromMatrix === null && closes)) {
    const evidence =
      fromMatrix === false
        ? `measured: ${i.matrix?.tcpKeepaliveEvidence ?? 'a tcp: row of the survival matrix died where SSH heartbeats survived'}`
        : 'measured: the path closes idle connections itself (failure mode closed — a proxy load balancer, whose own kernel answers TCP keepalives)';
    const relying = local?.clientTcpKeepAlive !== false && local?.tcpKeepaliveTimeSeconds != null && t !== null && local.tcpKeepaliveTimeSeconds < t;
    return {
      level: relying ? 'warn' : 'info',
      refreshesPath: false,
      evidence,
      message:
        `Lowering ${SYSCTL} does not help on this path (${evidence}): kernel TCP keepalives do not count as activity there; only bytes inside SSH do — ServerAliveInterval ${i.sshIntervalSeconds} (or sshd's ClientAliveInterval).` +
        (here ? ` Here: ${here}${relying ? ' — it will not keep these sessions alive.' : '.'}` : ''),
    };
  }
  if (fromMatrix === true) {
    const evidence = `measured: ${i.matrix?.tcpKeepaliveEvidence ?? 'a tcp: row of the survival matrix survived where idle sessions died'}`;
    let level: Finding['level'] = 'info';
    let localPart = '';
    if (local?.clientTcpKeepAlive === false) {
      level = 'warn';
      localPart = ` Here TCPKeepAlive is off for this host: the sysctl does not reach ssh's socket.`;
    } else if (local?.tcpKeepaliveTimeSeconds != null && t !== null) {
      level = local.tcpKeepaliveTimeSeconds < t ? 'ok' : 'warn';
      localPart =
        local.tcpKeepaliveTimeSeconds < t
          ? ` Here ${SYSCTL} is ${local.tcpKeepaliveTimeSeconds} s, below ${t} s: sessions from this host get kernel keepalives in time.`
          : ` Here ${SYSCTL} is ${local.tcpKeepaliveTimeSeconds} s, not below ${t} s: lower it (sysctl -w ${SYSCTL}=${Math.max(1, Math.floor(t / 2))}) or rely on ServerAliveInterval.`;
    }
    return {
      level,
      refreshesPath: true,
      evidence,
      message:
        `Kernel TCP keepalives keep this path alive (${evidence}): TCPKeepAlive yes (OpenSSH's default) with ${SYSCTL}${t !== null ? ` below ${t} s` : ' below the idle timeout'} on the host that owns the socket works too — ` +
        `but ssh never learns from them that a path died; ServerAliveInterval ${i.sshIntervalSeconds} does both.` +
        localPart,
    };
  }
  return {
    level: 'info',
    refreshesPath: null,
    evidence: null,
    message:
      `Whether lowering ${SYSCTL} helps depends on the box, and it is not measured here. It can help only if all hold: TCPKeepAlive is on (OpenSSH's default)` +
      (local?.clientTcpKeepAlive != null ? ` — here ${local.clientTcpKeepAlive ? 'yes' : 'no'}` : '') +
      `; the value is below the path's idle timeout${t !== null ? ` (${t} s)` : ''}` +
      (local?.tcpKeepaliveTimeSeconds != null ? ` — here ${local.tcpKeepaliveTimeSeconds} s` : '') +
      `; it is set on the host that owns the socket (the client for ssh, sftp, scp; the server for sshd's side); and the box is a NAT or stateful firewall — never a proxy load balancer, which only counts bytes inside the connection. ` +
      `Measure which: idleprobe heartbeat TARGET --intervals ${i.sshIntervalSeconds},tcp:${Math.max(1, Math.min(i.sshIntervalSeconds, t !== null ? Math.floor(t / 2) : i.sshIntervalSeconds))}.`,
  };
}

function localWords(local: TcpKeepaliveInput['local'], t: number | null): string | null {
  if (!local) return null;
  const parts: string[] = [];
  if (local.tcpKeepaliveTimeSeconds != null) parts.push(`${SYSCTL} ${local.tcpKeepaliveTimeSeconds} s${t !== null ? (local.tcpKeepaliveTimeSeconds < t ? `, below ${t} s` : `, not below ${t} s`) : ''}`);
  if (local.clientTcpKeepAlive != null) parts.push(`TCPKeepAlive ${local.clientTcpKeepAlive ? 'yes' : 'no'}`);
  return parts.length ? parts.join(', ') : null;
}
