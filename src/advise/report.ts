// Assembles the `idleprobe advise` document (also its --json form) and renders it for humans. Pure.
import type { HeartbeatMatrix } from '../heartbeat/types.ts';
import { recommend, type Recommendation } from './recommend.ts';
import { sshClientSnippet, sshdConfigSnippet, type SnippetTarget } from './snippets.ts';
import type { TimeoutBasis } from './timeout-basis.ts';
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
  const findings = [...(local?.client?.findings ?? []), ...(local?.server?.findings ?? []), ...(local?.kernel?.findings ?? [])];
  return {
    target,
    basis,
    recommendation,
    snippets: { sshConfig: sshClientSnippet(snippetTarget, recommendation), sshdConfig: sshdConfigSnippet(recommendation) },
    local,
    enforcingHop,
    problems: findings.some((f) => f.level === 'problem'),
  };
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
  if (a.local) {
    out.push('', 'Local checks:');
    const sections: [string, Finding[] | undefined][] = [
      ['ssh -G', a.local.client?.findings],
      ['sshd', a.local.server ? (a.local.server.available ? a.local.server.findings : [{ level: 'info', message: `sshd -T not checked: ${a.local.server.reason}` }]) : undefined],
      ['kernel', a.local.kernel?.findings],
    ];
    for (const [, findings] of sections) for (const f of findings ?? []) out.push(`  ${MARK[f.level]} ${f.message}`);
  }
  return out.join('\n') + '\n';
}

function indent(text: string): string[] {
  return text.trimEnd().split('\n').map((l) => `    ${l}`);
}
