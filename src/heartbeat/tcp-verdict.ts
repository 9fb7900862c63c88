// Do kernel TCP keepalives keep this path alive? Decided from the matrix's own rows, pure.
//  - yes: a `tcp:N` row survived the window while the path ended idle sessions (the session without
//    heartbeat, or an SSH heartbeat interval ≥ N, died by the path) — the box counts the kernel's
//    keepalives as activity: a NAT or stateful firewall (conntrack);
//  - no: a `tcp:N` row died by the path although idle gaps of N s are shown to be safe — it was
//    ended after more than N s of silence at SSH level (a proxy's FIN, observed at its idle age),
//    or an SSH heartbeat every h ≥ N s survived. The box only counts bytes inside the connection:
//    a proxy, whose own kernel answers the keepalives without telling it;
//  - unknown otherwise (no tcp: rows; nothing died; tcp rows died but nothing shows N was safe).
import { PATH_DEATHS, rowLabel, type HeartbeatRunResult } from './types.ts';

export interface TcpKeepaliveVerdict {
  refreshesPath: boolean | null;
  evidence: string | null;
}

const diedByPath = (r: HeartbeatRunResult) => !r.survived && r.cause !== null && PATH_DEATHS.has(r.cause);

export function tcpKeepaliveVerdict(results: readonly HeartbeatRunResult[]): TcpKeepaliveVerdict {
  const tcp = results.filter((r) => r.kind === 'tcp' && r.intervalSeconds !== null);
  if (tcp.length === 0) return { refreshesPath: null, evidence: null };
  const ssh = results.filter((r) => r.kind !== 'tcp');
  const none = ssh.find((r) => r.intervalSeconds === null);

  const yes: string[] = [];
  const no: string[] = [];
  for (const row of tcp) {
    const n = row.intervalSeconds as number;
    if (row.survived) {
      const idleDeath = none && diedByPath(none) ? none : ssh.find((r) => r.intervalSeconds !== null && (r.intervalSeconds) >= n && diedByPath(r));
      if (idleDeath) yes.push(`${rowLabel(row)} survived the window while ${describeDeath(idleDeath)}`);
      continue;
    }
    if (!diedByPath(row)) continue;
    const idle = row.idleSecondsAtDeath;
    if (typeof idle === 'number' && idle > n) {
      no.push(`${rowLabel(row)} was ${row.cause === 'closed' ? 'closed' : 'ended'} by the path after ${idle} s without a byte at SSH level although kernel keepalives went out every ${n} s`);
      continue;
    }
    const sshSurvivor = ssh.find((r) => r.intervalSeconds !== null && (r.intervalSeconds) >= n && r.survived);
    if (sshSurvivor) no.push(`${rowLabel(row)} died (${row.cause}) while SSH heartbeats every ${sshSurvivor.intervalSeconds} s survived`);
  }
  if (yes.length && no.length) return { refreshesPath: null, evidence: `contradictory rows: ${[...yes, ...no].join('; ')}` };
  if (yes.length) return { refreshesPath: true, evidence: `${yes.join('; ')}: the box counts kernel keepalives as activity (a NAT or stateful firewall)` };
  if (no.length) return { refreshesPath: false, evidence: `${no.join('; ')}: the box only counts bytes inside the connection (a proxy, whose own kernel answers the keepalives)` };
  const anyDeath = results.some(diedByPath);
  return {
    refreshesPath: null,
    evidence: anyDeath
      ? 'the tcp: rows neither outlived an idle session nor died where SSH heartbeats of their interval survived: run them beside the session without heartbeat and an SSH interval ≥ theirs'
      : 'the path ended no idle session within the window: there was nothing for kernel keepalives to prevent (a longer --window shows more)',
  };
}

function describeDeath(r: HeartbeatRunResult): string {
  const who = r.intervalSeconds === null ? 'the session without heartbeat' : `the session with SSH heartbeats every ${r.intervalSeconds} s`;
  const when = typeof r.idleSecondsAtDeath === 'number' ? ` after ${r.idleSecondsAtDeath} s idle` : r.diedAtSeconds !== null ? ` at ${r.diedAtSeconds} s` : '';
  return `${who} died (${r.cause}${when})`;
}
