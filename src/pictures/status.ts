// The one policy for a target's colour on the pages: failing, stale, masked, inconclusive,
// waiting for its first result, or fine — and the words that say why.
import type { TargetJson, TrendPoint } from './model.ts';
import { num } from './format.ts';

export type TargetStatus = 'failing' | 'stale' | 'masked' | 'inconclusive' | 'pending' | 'ok';

/** Worst first: the overview's default order. */
export const STATUS_ORDER: readonly TargetStatus[] = ['failing', 'stale', 'masked', 'inconclusive', 'pending', 'ok'];

export const STATUS_LABEL: Record<TargetStatus, string> = {
  failing: 'failing',
  stale: 'stale',
  masked: 'masked',
  inconclusive: 'inconclusive',
  pending: 'not measured yet',
  ok: 'ok',
};

/** With fewer than two runs to learn the schedule from, a result older than this is stale. */
export const DEFAULT_STALE_AFTER_MS = 25 * 3600_000;
/** However fast the schedule, a result is not called stale before this age. */
export const MIN_STALE_AFTER_MS = 10 * 60_000;

/**
 * A result is stale once it is older than twice the target's usual gap between runs (the median of
 * its recent gaps): two scheduled runs went by without a new one. Learnt from the runs rather than
 * from the cron expression, so it also holds for runs the API or the sentinel started.
 */
export function staleAfterMs(trend: readonly TrendPoint[]): number {
  const gaps: number[] = [];
  for (let i = 1; i < trend.length; i++) gaps.push(trend[i].finishedAtMs - trend[i - 1].finishedAtMs);
  if (gaps.length === 0) return DEFAULT_STALE_AFTER_MS;
  gaps.sort((a, b) => a - b);
  const mid = gaps.length >> 1;
  const median = gaps.length % 2 ? gaps[mid] : (gaps[mid - 1] + gaps[mid]) / 2;
  return Math.max(MIN_STALE_AFTER_MS, 2 * median);
}

/** When a current result will turn stale (null: no result, or nothing that can go stale). */
export function staleAtMs(t: TargetJson, trend: readonly TrendPoint[]): number | null {
  return t.latest ? Date.parse(t.latest.finishedAt) + staleAfterMs(trend) : null;
}

export function targetStatus(t: TargetJson, trend: readonly TrendPoint[], now: number): { status: TargetStatus; why: string } {
  const attempt = t.lastAttempt;
  if (attempt && attempt.status !== 'ok') return { status: 'failing', why: `last attempt failed (${attempt.errorKind ?? 'error'}): ${attempt.error ?? 'no detail'}` };
  if (t.up === 0) return { status: 'failing', why: 'the last connection attempt failed' };
  const ok = t.latest;
  if (!ok) return { status: 'pending', why: t.running ? `first measurement running since ${t.running.since}` : 'no measurement has finished yet' };
  const age = now - Date.parse(ok.finishedAt);
  const limit = staleAfterMs(trend);
  if (age >= limit) return { status: 'stale', why: `the latest result is ${humanDuration(age)} old, more than twice the usual gap between runs (${humanDuration(limit / 2)})` };
  const results = ok.results ?? [];
  const masked = results.filter((r) => r.verdict === 'masked');
  if (masked.length) return { status: 'masked', why: `${masked.map((r) => r.direction).join(' and ')}: the server's own heartbeats${ok.serverHeartbeatSeconds ? ` (every ${num(ok.serverHeartbeatSeconds)} s)` : ''} hide the path timeout` };
  const unclear = results.filter((r) => r.verdict === 'inconclusive');
  if (unclear.length) return { status: 'inconclusive', why: unclear.map((r) => `${r.direction}: ${r.reason ?? 'inconclusive'}`).join('; ') };
  return { status: 'ok', why: 'latest measurement is current' };
}

/** "45 s", "12 min", "5.5 h", "3.2 days". */
export function humanDuration(ms: number): string {
  const s = ms / 1000;
  if (s < 120) return `${Math.round(s)} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${Math.round(s / 360) / 10} h`;
  return `${Math.round(s / 8640) / 10} days`;
}
