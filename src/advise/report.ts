// Assembles the `idleprobe advise` document (also its --json form) and renders it for humans. Pure.
import type { HeartbeatMatrix } from '../heartbeat/types.ts';
import { recommend, type Recommendation } from './recommend.ts';
import { clientSettings, sshClientSnippet, sshdConfigSnippet, type ClientSettings, type SnippetTarget } from './snippets.ts';
import { safeIdleLimitSeconds, type TimeoutBasis } from './timeout-basis.ts';
import { describeHint, matchKnownTimeouts } from './known-timeouts.ts';
import { tcpKeepaliveAdvice, type TcpKeepaliveAdvice } from './tcp-keepalive.ts';
import type { ClientEffective, Finding, ServerEffective } from './judge-local.ts';
import { describeEnforcingHop, type EnforcingHop } from './enforcing-hop.ts';

export interface LocalCheckReport {
  client: { effective: ClientEffective; findings: Finding[] } | null;
  server: { available: boolean; reason: string | null; effective: ServerEffective | null; pid: number | null; startedAt: string | null; findings: Finding[] } | null;
  kernel: { tcpKeepaliveTimeSeconds: number | null; findings: Finding[] } | null;
}

export interface AdviceReport {
  target: string;
  basis: TimeoutBasis;
  recommendation: Recommendation;
  snippets: { sshConfig: string; sshdConfig: string };
  /** The same heartbeat for sftp, scp, rsync, PuTTY, WinSCP and FileZilla. */
  clients: ClientSettings;
  /** Does lowering net.ipv4.tcp_keepalive_time help on this path? Measured when known, else when it can. */
  tcpKeepalive: TcpKeepaliveAdvice;
  /** Well-known defaults the measured timeout matches (hints, never claims). */
  hints: string[];
  local: LocalCheckReport | null;
  /** The hop whose box enforces the path timeout, when `locate` found it (null: unknown). */
  enforcingHop: EnforcingHop | null;
  /** True when any local finding is a problem (CLI exit code stays 0: advice is a result). */
  problems: boolean;
}

export function buildAdvice(
  target: string,
  snippetTarget: SnippetTarget,
  basis: TimeoutBasis,
  matrix: HeartbeatMatrix | null,
  countMax: number | undefined,
  local: LocalCheckReport | null,
  enforcingHop: EnforcingHop | null = null,
): AdviceReport {
  const recommendation = recommend(basis, matrix, { countMax });
  const tcpKeepalive = tcpKeepaliveAdvice({
    matrix,
    failureMode: basis.failureMode,
    limitSeconds: safeIdleLimitSeconds(basis, matrix),
    sshIntervalSeconds: recommendation.intervalSeconds,
    local: local?.kernel ? { tcpKeepaliveTimeSeconds: local.kernel.tcpKeepaliveTimeSeconds, clientTcpKeepAlive: local.client?.effective.tcpKeepAlive ?? null } : null,
  });
  const findings = [...(local?.client?.findings ?? []), ...(local?.server?.findings ?? []), tcpKeepalive];
  return {
    target,
    basis,
    recommendation,
    snippets: { sshConfig: sshClientSnippet(snippetTarget, recommendation), sshdConfig: sshdConfigSnippet(recommendation) },
    clients: clientSettings(snippetTarget, recommendation),
    tcpKeepalive,
    hints: knownDefaultHints(basis, matrix),
    local,
    enforcingHop,
    problems: findings.some((f) => f.level === 'problem'),
  };
}

/** Hints from the measured bracket (or a matrix's observed idle end) matching a well-known default. */
function knownDefaultHints(basis: TimeoutBasis, matrix: HeartbeatMatrix | null): string[] {
  const b = basis.bracket;
  if (b && (b.lowerSeconds !== null || b.upperSeconds !== null) && !b.source.startsWith('--timeout')) {
    const measured = `A timeout of (${fmt(b.lowerSeconds)}, ${fmt(b.upperSeconds)}] s${basis.failureMode ? ` (${basis.failureMode})` : ''}`;
    return matchKnownTimeouts(b.lowerSeconds, b.upperSeconds, basis.failureMode).map((k) => describeHint(k, measured));
  }
  const observed = matrix?.pathKillsIdleAfterSeconds;
  if (typeof observed === 'number' && matrix?.results.some((r) => typeof r.idleSecondsAtDeath === 'number')) {
    const mode = matrix.results.find((r) => typeof r.idleSecondsAtDeath === 'number')?.cause;
    const fm = mode === 'closed' || mode === 'reset' || mode === 'silent' ? mode : null;
    return matchKnownTimeouts(observed, observed, fm).map((k) => describeHint(k, `Sessions ended after ${observed} s idle${fm ? ` (${fm})` : ''}`));
  }
  return [];
}

function fmt(x: number | null): string {
  return x === null ? '?' : String(Math.round(x * 10) / 10);
}

const MARK: Record<Finding['level'], string> = { ok: 'ok  ', info: 'note', warn: 'WARN', problem: '!!  ' };

export function formatAdvice(a: AdviceReport): string {
  const r = a.recommendation;
  const out: string[] = [];
  out.push(`Advice for ${a.target}: heartbeat every ${r.intervalSeconds} s, give up after ${r.countMax} unanswered (${r.toleranceSeconds} s).`, '');
  if (a.enforcingHop) out.push(describeEnforcingHop(a.enforcingHop), '');
  out.push('Why:');
  for (const line of r.reasoning) out.push(`  - ${line}`);
  for (const w of r.warnings) out.push(`  WARN ${w}`);
  out.push('', 'Client side — add to ~/.ssh/config (before any "Host *" block: the first value found wins):', '');
  out.push(...indent(a.snippets.sshConfig), '');
  out.push('Server side — /etc/ssh/sshd_config (either side alone keeps the path busy; both is fine):', '');
  out.push(...indent(a.snippets.sshdConfig));
  out.push('', 'The same for the clients that carry the sessions that die:', '');
  out.push(...indent([a.clients.sftp, a.clients.scp, a.clients.rsync, a.clients.putty, a.clients.winscp, a.clients.filezilla].join('\n')));
  out.push('', 'Kernel TCP keepalive (net.ipv4.tcp_keepalive_time):', `  ${MARK[a.tcpKeepalive.level]} ${a.tcpKeepalive.message}`);
  for (const h of a.hints) out.push('', `Hint: ${h}`);
  if (a.local) {
    out.push('', 'Local checks:');
    const sections: [string, Finding[] | undefined][] = [
      ['ssh -G', a.local.client?.findings],
      ['sshd', a.local.server ? (a.local.server.available ? a.local.server.findings : [{ level: 'info', message: `sshd -T not checked: ${a.local.server.reason}` }]) : undefined],
    ];
    for (const [, findings] of sections) for (const f of findings ?? []) out.push(`  ${MARK[f.level]} ${f.message}`);
    out.push(`  (the kernel's keepalive is judged above, with this host's ${a.local.kernel?.tcpKeepaliveTimeSeconds ?? '?'} s)`);
  }
  return out.join('\n') + '\n';
}

function indent(text: string): string[] {
  return text.trimEnd().split('\n').map((l) => `    ${l}`);
}
