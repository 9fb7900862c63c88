// The human summary of `idleprobe locate`. Pure: the outcome in, lines of text out.
import type { LocateDocumentUnlocatable, LocateOutcome } from './locate.ts';

const secs = (v: number) => `${(Math.round(v * 10) / 10).toFixed(1)} s`;
const HOW: Record<string, string> = { silent: 'silently', reset: 'with a reset', closed: 'closed by the far end' };
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
  const u = doc.unlocatable ?? null;
  if (u) lines.push(...unlocatableLines(u, doc.hops));
  if (result.verdict === 'no_timeout_up_to_max') lines.push(`no idle timeout on this path up to ${secs(o.maxSeconds)}: nothing to locate`);
  // The reason of a run that found what no TTL locates is the lines above.
  if (result.reason && result.verdict !== 'no_timeout_up_to_max' && !u) lines.push(`${result.verdict === 'located' ? 'note' : result.verdict.replaceAll('_', ' ')}: ${result.reason}`);
  const hops = doc.hops.map((h) => `${h.hop} ${h.address ?? '*'}`).join(' · ');
  lines.push(`hops (TCP traceroute to port ${o.document.target.split(':').at(-1)}): ${hops || 'none answered'}${trace.targetHop === null ? ' (the target did not answer a TTL-limited SYN)' : ''}`);
  if (trace.problem) lines.push(`traceroute stopped: ${trace.problem}`);
  return lines.join('\n') + '\n';
}

/**
 * What every hop dying at the same age means, in three lines: what it is (a proxy closing idle
 * connections, or something behind where TCP ends), the evidence, and where TCP ends — which is
 * all the TCP traceroute can tell: the SYN answered at that hop (a transparent proxy answers with
 * the target's address), the hop before it the last to send time-exceeded.
 */
function unlocatableLines(u: LocateDocumentUnlocatable, hops: readonly { hop: number; address: string | null }[]): string[] {
  const when = u.belowMin || u.estimateSeconds === null ? `within ≤ ${secs(u.upperSeconds)} (below --min)` : `after ≈ ${secs(u.estimateSeconds)}`;
  const beyond = u.beyondHop > 0 ? `beyond hop ${u.beyondHop}, ` : '';
  const who = u.beyondHop > 0 ? `every session idling beyond hop ${u.beyondHop}` : 'every session';
  const bracket = `bracket (${u.lowerSeconds === null ? '?' : u.lowerSeconds.toFixed(1)}, ${u.upperSeconds.toFixed(1)}]`;
  const lines: string[] = [];
  if (u.closesIdle) {
    const how = u.failureMode === 'reset' ? 'reset (RST)' : 'closed (FIN, no SSH disconnect)';
    lines.push(`${beyond}a proxy that ignores TCP keepalives closes idle connections ${when}; it cannot be located by TTL`);
    lines.push(`  ${who} was ${how} by the far end at that idle age whatever its TTL, even at hop ${u.tcpEndsAtHop} where TCP ends; ${bracket}`);
  } else {
    const how = u.failureMode ? ` (${u.failureMode === 'silent' ? 'silently' : `${HOW[u.failureMode] ?? u.failureMode}`})` : '';
    lines.push(`${beyond}something that does not count TCP keepalives forgets idle connections ${when}${how}; it cannot be located by TTL`);
    lines.push(`  ${who} died at that idle age on the next probe whatever its TTL, even at hop ${u.tcpEndsAtHop} where TCP ends: a box behind a proxy (on its own connection to the server), or a proxy; ${bracket}`);
  }
  const before = hops.find((h) => h.hop === u.tcpEndsAtHop - 1);
  const last = u.tcpEndsAtHop > 1 ? `; hop ${u.tcpEndsAtHop - 1}${before?.address ? ` (${before.address})` : ''} is the last to answer time-exceeded` : '';
  lines.push(`  TCP ends at hop ${u.tcpEndsAtHop}: the traceroute's SYN is answered there${u.tcpEndsAtAddress ? ` by ${u.tcpEndsAtAddress}` : ''}${last}; what closes is at hop ${u.tcpEndsAtHop} or behind it`);
  return lines;
}
