// Well-known default idle timeouts of boxes people meet on SSH paths. A measured timeout (and its
// failure mode) that matches one is worth a hint — "350 s with a reset is AWS NAT Gateway's
// default" — never a claim: many boxes share round numbers, and defaults get changed. Pure. The
// sources of every figure are in docs/heartbeat-and-advice.md ("Well-known idle timeouts").
import type { FailureMode } from '../search/types.ts';

export interface KnownTimeout {
  seconds: number;
  /** The failure mode the box shows, when its documentation says (null: any). */
  modes: readonly FailureMode[] | null;
  who: string;
}

export const KNOWN_TIMEOUTS: readonly KnownTimeout[] = [
  { seconds: 350, modes: ['reset'], who: 'AWS NAT Gateway (fixed; an RST to the next packet) or the TCP idle timeout of an AWS Network Load Balancer' },
  { seconds: 350, modes: ['silent'], who: "the default TCP idle timeout of AWS Network Firewall (packets dropped)" },
  { seconds: 240, modes: null, who: 'the default idle timeout of Azure Load Balancer rules and Azure NAT Gateway (4 minutes; silent, or an RST with "TCP reset" enabled)' },
  { seconds: 1200, modes: ['silent'], who: "GCP Cloud NAT's default TCP established idle timeout (20 minutes)" },
  { seconds: 3600, modes: null, who: 'a common firewall default (e.g. FortiGate `system session-ttl` default 3600 s)' },
  { seconds: 7440, modes: null, who: "OpenWrt's conntrack (nf_conntrack_tcp_timeout_established=7440)" },
  { seconds: 432000, modes: null, who: "Linux conntrack's kernel default (5 days; also EC2 security group tracking's default)" },
];

/** How close a measurement must come to a default: max(3 s, 3 %) beyond its bracket. */
function slack(seconds: number): number {
  return Math.max(3, 0.03 * seconds);
}

/**
 * The defaults a measured timeout matches: the default lies within the bracket (lower, upper], widened
 * by max(3 s, 3 %), and the failure mode agrees when both are known. Hints only.
 */
export function matchKnownTimeouts(lowerSeconds: number | null, upperSeconds: number | null, mode: FailureMode | null): KnownTimeout[] {
  if (lowerSeconds === null && upperSeconds === null) return [];
  const lo = lowerSeconds ?? upperSeconds!;
  const hi = upperSeconds ?? lowerSeconds!;
  return KNOWN_TIMEOUTS.filter((k) => k.seconds >= lo - slack(k.seconds) && k.seconds <= hi + slack(k.seconds) && (k.modes === null || mode === null || k.modes.includes(mode)));
}

export function describeHint(k: KnownTimeout, measured: string): string {
  return `${measured} matches ${k.who} — a hint, not a finding: sources in docs/heartbeat-and-advice.md ("Well-known idle timeouts").`;
}
