// What the HTTP benchmarks share (metrics, pages, attack): the synthetic stored measurement of each
// of their 1,000 targets, a closed-loop load of concurrent GETs over real HTTP, and the latency line
// they print.
import http from 'node:http';
import type { MeasurementResult } from '../../src/search/types.ts';

/** A finished measurement of target `name` (the i-th): a timeout of 60–359 s, 12 probes a direction. */
export function syntheticResult(name: string, i: number): MeasurementResult {
  const est = 60 + (i % 300);
  const dir = (direction: 'outbound' | 'inbound', mode: 'silent' | 'reset') => ({
    direction,
    verdict: 'timeout' as const,
    lowerSeconds: est - 1,
    upperSeconds: est + 1,
    estimateSeconds: est,
    failureMode: mode,
    probes: Array.from({ length: 12 }, (_, k) => ({ ageSeconds: est - 6 + k, outcome: k < 6 ? ('alive' as const) : mode, at: new Date().toISOString(), sessionId: `${name}#${k}` })),
    consistency: 1,
    sessionsOpened: 8,
    maxConcurrentSessions: 8,
    elapsedMs: est * 2000,
    reason: null,
  });
  return {
    target: name,
    startedAt: new Date().toISOString(),
    elapsedSeconds: est * 2,
    results: [dir('outbound', 'silent'), dir('inbound', 'reset')],
    serverHeartbeatSeconds: null,
    recommendedHeartbeatSeconds: Math.floor(est / 2),
  };
}

export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

export interface LoadResult {
  /** Latencies in ms, sorted. */
  lat: number[];
  /** The size of the last body. */
  bytes: number;
}

/** `requests` GETs of `url` from `concurrency` clients, each sending its next as soon as its last is answered (non-200 fails the run). */
export async function httpLoad(
  url: string,
  agent: http.Agent,
  opts: { concurrency: number; requests: number; gzip: boolean; beforeEach?: () => void },
): Promise<LoadResult> {
  const lat: number[] = [];
  let bytes = 0;
  let issued = 0;
  const worker = async () => {
    while (issued < opts.requests) {
      issued++;
      opts.beforeEach?.();
      const t0 = performance.now();
      bytes = await new Promise<number>((resolve, reject) => {
        http
          .get(url, { agent, headers: opts.gzip ? { 'accept-encoding': 'gzip' } : {} }, (res) => {
            let n = 0;
            res.on('data', (c: Buffer) => (n += c.length));
            res.on('end', () => (res.statusCode === 200 ? resolve(n) : reject(new Error(`HTTP ${res.statusCode}`))));
          })
          .on('error', reject);
      });
      lat.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, worker));
  return { lat: lat.sort((a, b) => a - b), bytes };
}

/** Prints one line (label padded to `width`, n, p50/p95/p99/max, body size named `bytesName`); returns p99. */
export function reportLatency(label: string, r: LoadResult, width: number, bytesName: string): number {
  const p99 = percentile(r.lat, 99);
  console.log(
    `${label.padEnd(width)} n=${r.lat.length} p50=${percentile(r.lat, 50).toFixed(1)}ms p95=${percentile(r.lat, 95).toFixed(1)}ms p99=${p99.toFixed(1)}ms max=${r.lat[r.lat.length - 1].toFixed(1)}ms ${bytesName}=${(r.bytes / 1024).toFixed(0)}KiB`,
  );
  return p99;
}
