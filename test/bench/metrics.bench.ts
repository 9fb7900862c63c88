// Benchmark: GET /metrics of a daemon with 1,000 configured targets whose results are loaded from
// history (warm start), scraped over real HTTP by concurrent clients. Prints p50/p95/p99/max for
// (a) steady state (results unchanged between scrapes: the cached target part is reused) and
// (b) one target changed before every scrape (its series are re-rendered, the rest reused) and
// (c) the worst case: every target changed before every scrape (everything re-rendered).
// Target: p99 < 50 ms in steady state. Exit code 1 if it is missed.
// Usage: npm run bench:metrics [-- <targets> <concurrency> <requests>]
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Daemon } from '../../src/daemon/daemon.ts';
import { resolveConfig } from '../../src/daemon/config.ts';
import { HistoryStore } from '../../src/daemon/history.ts';
import type { CronScheduler } from '../../src/daemon/runner.ts';
import { buildApp } from '../../src/exporter/app.ts';
import { exporterOf } from '../support/exporter.ts';
import { httpLoad, reportLatency, syntheticResult, type LoadResult } from './http-load.ts';

const TARGETS = Number(process.argv[2] ?? 1000);
const CONCURRENCY = Number(process.argv[3] ?? 16);
const REQUESTS = Number(process.argv[4] ?? 400);
const P99_TARGET_MS = 50;

const scrapeLoop = (url: string, agent: http.Agent, gzip: boolean, beforeEach?: () => void) => httpLoad(url, agent, { concurrency: CONCURRENCY, requests: REQUESTS, gzip, beforeEach });
const report = (label: string, r: LoadResult) => reportLatency(label, r, 44, 'body');

async function main(): Promise<number> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idleprobe-bench-'));
  try {
    const historyFile = path.join(dir, 'history.sqlite');
    const names = Array.from({ length: TARGETS }, (_, i) => `target-${String(i).padStart(4, '0')}`);
    const seed = new HistoryStore(historyFile);
    names.forEach((n, i) => seed.record({ target: n, status: 'ok', startedAt: new Date().toISOString(), finishedAtMs: Date.now(), durationSeconds: 120, result: syntheticResult(n, i) }));
    seed.close();

    const cfg = resolveConfig({
      global: { jitter_seconds: 0 },
      targets: names.map((name, i) => ({ name, host: `198.18.${(i >> 8) & 255}.${i & 255}`, user: 'probe', use_agent: true, host_key_sha256: `SHA256:${'F'.repeat(43)}` })),
    });
    const noCron: CronScheduler = () => ({ stop() {}, nextRunAt: () => null });
    const daemon = new Daemon({ config: cfg, historyFile, cron: noCron, measure: async () => { throw new Error('the benchmark never measures'); } });
    const t0 = performance.now();
    daemon.start();
    console.log(`warm start: ${TARGETS} targets loaded from history in ${(performance.now() - t0).toFixed(0)} ms`);
    const { model, renderer } = exporterOf(daemon);
    const app = await buildApp({ model, renderer });
    const url = `${await app.listen({ host: '127.0.0.1', port: 0 })}/metrics`;
    const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
    const series = (await renderer.render()).split('\n').filter((l) => l.startsWith('idleprobe_')).length;
    console.log(`${series} idleprobe_ series; ${CONCURRENCY} concurrent clients, ${REQUESTS} scrapes per scenario`);

    await scrapeLoop(url, agent, true); // warm-up (JIT, first render)
    // Prometheus sends Accept-Encoding: gzip on every scrape.
    const steady = report('steady, gzip (as Prometheus scrapes)', await scrapeLoop(url, agent, true));
    report('steady, identity (no Accept-Encoding)', await scrapeLoop(url, agent, false));
    // Something a scrape shows changes before every request. Runner internals are reached on
    // purpose: the benchmark needs changes without real SSH sessions.
    const runners = [...(daemon as unknown as { runners: Map<string, { changed(): void }> }).runners.values()];
    let k = 0;
    report('one target changed before every scrape, gzip', await scrapeLoop(url, agent, true, () => runners[k++ % runners.length].changed()));
    report('all targets changed before every scrape, gzip', await scrapeLoop(url, agent, true, () => runners.forEach((r) => r.changed())));
    agent.destroy();
    await app.close();
    await daemon.shutdown();
    const ok = steady < P99_TARGET_MS;
    console.log(`steady-state p99 ${steady.toFixed(1)} ms ${ok ? '<' : '>='} ${P99_TARGET_MS} ms target: ${ok ? 'PASS' : 'FAIL'}`);
    return ok ? 0 : 1;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

process.exitCode = await main();
