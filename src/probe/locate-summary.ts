// The human summary of `idleprobe locate`. Pure: the outcome in, lines of text out.
import type { LocateOutcome } from './locate.ts';

const secs = (v: number) => `${(Math.round(v * 10) / 10).toFixed(1)} s`;
const HOW: Record<string, string> = { silent: 'silently', reset: 'with a reset' };

function hopName(hop: number, address: string | null, targetHop: number | null): string {
  const where = address ?? 'address unknown: it sent no ICMP time-exceeded';
  return `hop ${hop} (${where}${hop === targetHop ? ', the target itself' : ''})`;
}

export function formatLocateSummary(o: LocateOutcome): string {
  const { document: doc, result, trace } = o;
  const lines: string[] = [];
  const pt = result.pathTimeout;
  if (pt) {
    const bracket = o.timeoutGiven ? 'given with --timeout' : `survived ${pt.lowerSeconds === null ? '?' : secs(pt.lowerSeconds)}, failed at ${secs(pt.upperSeconds)}`;
    lines.push(`path idle timeout ≈ ${secs(pt.estimateSeconds)} (${bracket})`);
  }
  doc.boxes.forEach((b, i) => {
    const how = b.failureMode ? ` (${HOW[b.failureMode]})` : '';
    const nearer = i === 0 ? 'nothing nearer forgets sooner' : `nothing between hop ${doc.boxes[i - 1]!.hop} and hop ${b.hop} forgets sooner`;
    const bracket = `, bracket (${b.lowerSeconds === null ? '?' : b.lowerSeconds.toFixed(1)}, ${b.upperSeconds.toFixed(1)}]`;
    lines.push(`${hopName(b.hop, b.address, trace.targetHop)} forgets idle connections after ${secs(b.estimateSeconds)}${how}; ${nearer}${o.timeoutGiven && i === 0 ? '' : bracket}`);
  });
  if (result.searchedBeyondUpToSeconds !== null && doc.boxes.length > 0) {
    lines.push(`nothing beyond hop ${doc.boxes.at(-1)!.hop} forgets idle connections within ${secs(result.searchedBeyondUpToSeconds)}`);
  }
  if (doc.hiddenBefore !== null) {
    lines.push(`a box at hop ≤ ${doc.hiddenBefore} may have a longer timeout than the box found beyond it; not measurable from this side`);
  }
  if (result.verdict === 'no_timeout_up_to_max') lines.push(`no idle timeout on this path up to ${secs(o.maxSeconds)}: nothing to locate`);
  if (result.reason && result.verdict !== 'no_timeout_up_to_max') lines.push(`${result.verdict === 'located' ? 'note' : result.verdict.replaceAll('_', ' ')}: ${result.reason}`);
  const hops = doc.hops.map((h) => `${h.hop} ${h.address ?? '*'}`).join(' · ');
  lines.push(`hops (TCP traceroute to port ${o.document.target.split(':').at(-1)}): ${hops || 'none answered'}${trace.targetHop === null ? ' (the target did not answer a TTL-limited SYN)' : ''}`);
  if (trace.problem) lines.push(`traceroute stopped: ${trace.problem}`);
  return lines.join('\n') + '\n';
}
