// The human summary of `idleprobe locate`. Pure: the outcome in, lines of text out.
import type { LocateOutcome } from './locate.ts';

const secs = (v: number) => `${(Math.round(v * 10) / 10).toFixed(1)} s`;
const HOW: Record<string, string> = { silent: 'silently', reset: 'with a reset' };
const GIVEN: Record<string, string> = { '--timeout': '--timeout', history: "the history's latest measurement" };

function hopName(hop: number, address: string | null, targetHop: number | null): string {
  const where = address ?? 'address unknown: it sent no ICMP time-exceeded';
  return `hop ${hop} (${where}${hop === targetHop ? ', the target itself' : ''})`;
}

/** "≈ 10.0 s" or, below --min, "≤ 5.0 s, below --min" (never a made-up estimate). */
function timeoutText(b: { estimateSeconds: number | null; upperSeconds: number; belowMin?: boolean }): string {
  return b.belowMin || b.estimateSeconds === null ? `≤ ${secs(b.upperSeconds)}, below --min` : `≈ ${secs(b.estimateSeconds)}`;
}

function bracketText(lower: number | null, upper: number): string {
  return `survived ${lower === null ? 'nothing' : secs(lower)}, failed at ${secs(upper)}`;
}

export function formatLocateSummary(o: LocateOutcome): string {
  const { document: doc, result, trace } = o;
  const lines: string[] = [];
  const pt = doc.pathTimeoutBracket ?? null;
  const given = doc.givenTimeout ?? null;
  if (given && !given.held) {
    // The given timeout did not hold: say so, and what was measured instead.
    const what = given.source === '--timeout' ? `--timeout ${given.seconds} was wrong` : `the history's latest measurement (≈ ${secs(given.seconds)}) no longer holds`;
    const found = pt
      ? `the path forgets idle connections ${pt.belowMin ? `within ${timeoutText({ estimateSeconds: null, upperSeconds: pt.upperSeconds, belowMin: true })}` : `after ≈ ${secs(doc.pathTimeoutSeconds!)} (${bracketText(pt.lowerSeconds, pt.upperSeconds)})`}, measured instead`
      : 'the path timeout could not be measured instead';
    lines.push(`${what}: ${found}`);
  } else if (pt) {
    const how = given ? `${GIVEN[given.source]} held: ${bracketText(pt.lowerSeconds, pt.upperSeconds)}` : bracketText(pt.lowerSeconds, pt.upperSeconds);
    if (pt.belowMin) lines.push(`path idle timeout ${timeoutText({ estimateSeconds: null, upperSeconds: pt.upperSeconds, belowMin: true })} (the shortest age probed already failed; locate again with a lower --min to measure it)`);
    else lines.push(`path idle timeout ≈ ${secs(doc.pathTimeoutSeconds!)} (${how})`);
  }
  doc.boxes.forEach((b, i) => {
    const how = b.failureMode ? ` (${HOW[b.failureMode]})` : '';
    const nearer = i === 0 ? 'nothing nearer forgets sooner' : `nothing between hop ${doc.boxes[i - 1].hop} and hop ${b.hop} forgets sooner`;
    const bracket = `, bracket (${b.lowerSeconds === null ? '?' : b.lowerSeconds.toFixed(1)}, ${b.upperSeconds.toFixed(1)}]`;
    const when = b.belowMin ? `within ${timeoutText(b)}` : `after ${secs(b.estimateSeconds!)}`;
    lines.push(`${hopName(b.hop, b.address, trace.targetHop)} forgets idle connections ${when}${how}; ${nearer}${bracket}`);
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
