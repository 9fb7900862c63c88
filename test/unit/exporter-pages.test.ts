// The page renderer of `serve` (src/exporter/pages.ts) against the real daemon core: what it
// rebuilds and when — trends read once in the background, a new result appended from the snapshot,
// one changed target rebuilding one row, a kept page reused, and a result going stale moving its
// row with time alone (no daemon change). Measure function injected, cron by hand, clock instant.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Daemon } from '../../src/daemon/daemon.ts';
import { resolveConfig } from '../../src/daemon/config.ts';
import { HistoryStore } from '../../src/daemon/history.ts';
import type { CronScheduler, MeasureFn } from '../../src/daemon/runner.ts';
import { PageRenderer } from '../../src/exporter/pages.ts';
import { daemonReadModel } from '../../src/app/read-model.ts';
import { DEFAULT_SORT } from '../../src/pictures/overview.ts';
import { instantClock, settle } from '../support/settle.ts';
import { measurement } from '../fixtures/pictures/data.ts';

const NAMES = ['alpha', 'beta', 'gamma'];
const RUNS = 5;
const EVERY_MS = 3600_000;
const noCron: CronScheduler = () => ({ stop() {}, nextRunAt: () => null });
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idleprobe-pages-'));
const historyFile = path.join(dir, 'history.sqlite');

describe('status page renderer', () => {
  const clock = instantClock(Date.parse('2026-12-06T12:00:00Z'));
  let daemon: Daemon;
  let pages: PageRenderer;
  const measure: MeasureFn = async (spec) => ({ ...measurement(spec.name, clock.now() - 60_000, 40, { directions: ['outbound'] }) });

  beforeAll(async () => {
    const seed = new HistoryStore(historyFile);
    for (const name of NAMES)
      for (let k = 0; k < RUNS; k++) {
        const finishedAtMs = clock.now() - (RUNS - k) * EVERY_MS;
        seed.record({ target: name, status: 'ok', startedAt: new Date(finishedAtMs - 60_000).toISOString(), finishedAtMs, durationSeconds: 60, result: measurement(name, finishedAtMs - 60_000, 30 + k, { seed: k, directions: ['outbound'] }) });
      }
    seed.close();
    const config = resolveConfig({
      global: { jitter_seconds: 0 },
      targets: NAMES.map((name) => ({ name, host: '127.0.0.1', port: 2222, user: 'u', use_agent: true, host_key_sha256: `SHA256:${'D'.repeat(43)}`, directions: ['outbound'] })),
    });
    daemon = new Daemon({ config, historyFile, measure, cron: noCron, clock });
    daemon.start();
    await settle();
    pages = new PageRenderer(daemonReadModel(daemon), { version: 'test' }, () => clock.now());
  });
  afterAll(async () => {
    await daemon.shutdown();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('reads each trend once in the background; the first page does not wait for it', async () => {
    const first = pages.overview(DEFAULT_SORT, 30).html;
    expect(first.match(/reading history…/g)).toHaveLength(NAMES.length);
    expect(pages.lastRowsRebuilt).toBe(NAMES.length);
    await pages.trendsLoaded();
    const loaded = pages.overview(DEFAULT_SORT, 30).html;
    expect(loaded.match(/<svg class="sparkline"/g)).toHaveLength(NAMES.length);
    expect(loaded).toContain(`${RUNS} runs`);
    // Nothing changed since: the kept page itself.
    expect(pages.overview(DEFAULT_SORT, 30)).toBe(pages.overview(DEFAULT_SORT, 30));
  });

  it('a new result rebuilds that one row and appends to its trend', async () => {
    pages.overview(DEFAULT_SORT, 30);
    expect(daemon.trigger('beta', 'measurement')).toBe('started');
    await daemon.settled('beta', 'measurement');
    await settle();
    const html = pages.overview(DEFAULT_SORT, 30).html;
    expect(pages.lastRowsRebuilt).toBe(1);
    expect(html).toContain(`timeout trend of beta: ${RUNS + 1} runs`);
    expect(html).toContain(`timeout trend of alpha: ${RUNS} runs`);
    // The history read behind the append finds the same runs: the trend stays as it is.
    await pages.trendsLoaded();
    expect(pages.overview(DEFAULT_SORT, 30).html).toContain(`timeout trend of beta: ${RUNS + 1} runs`);
  });

  it('a result going stale moves its row with time alone', async () => {
    pages.overview(DEFAULT_SORT, 30);
    // Twice the usual gap (1 h) after alpha's and gamma's latest runs (1 h ago), not yet after beta's (now).
    clock.advance(EVERY_MS);
    const html = pages.overview(DEFAULT_SORT, 30).html;
    expect(pages.lastRowsRebuilt).toBe(2);
    expect(html).toMatch(/data-target="alpha" data-status="stale"/);
    expect(html).toMatch(/data-target="gamma" data-status="stale"/);
    expect(html).toMatch(/data-target="beta" data-status="ok"/);
  });

  it('a target page shows the target, null for one not served', () => {
    expect(pages.target('alpha', 30, 0)?.html).toContain('<h2>alpha');
    expect(pages.target('nope', 30, 0)).toBeNull();
  });
});
