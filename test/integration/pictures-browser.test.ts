// The status pages and the HTML reports in a real browser: Debian's Chromium (playwright-core,
// never a downloaded browser) against a real `idleprobe serve --demo` process with TLS and basic
// auth on, and against real `--report` files written by the CLI. For every page: no console error,
// no failed request, no request anywhere but the daemon (or the report file itself), the plots
// exist with as many marks as the API has data points, the numbers in the text equal the API's,
// and a screenshot lands in test/artifacts/screenshots/ (docs/pictures.md). In CI
// (IDLEPROBE_REQUIRE_LAB=1) a missing Chromium fails these tests instead of skipping them.
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { spawnSync } from 'node:child_process';
import bcrypt from 'bcryptjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { children, startLabProcess, startServe, waitFor, type Daemon } from './daemon-harness.ts';
import { idleprobe, show, type Run } from './cli-harness.ts';
import { browserAvailability, foreignRequests, launchBrowser, type Browser } from '../support/browser.ts';
import { DEMO_TARGETS, DEMO_WRONG_KEY_TARGET } from '../../src/app/demo.ts';
import { num } from '../../src/pictures/format.ts';
import { locateReport } from '../../src/pictures/report.ts';
import { locateDoc } from '../fixtures/pictures/data.ts';

const avail = browserAvailability();
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idleprobe-browser-'));
const f = (name: string) => path.join(dir, name);
const USER = 'sre';
const PASSWORD = 'network-team';
const auth = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;

function openssl(args: string[]): void {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8', timeout: 30_000 });
  if (r.error) throw new Error(`cannot run openssl (Debian package openssl) to make test certificates: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${r.stderr}`);
}

/** GET over TLS with the test CA; `withAuth` false sends no credentials. */
function get(url: string, withAuth = true): Promise<{ status: number; body: string; headers: Record<string, string | string[] | undefined> }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    https
      .get({ host: u.hostname, port: u.port, path: `${u.pathname}${u.search}`, ca: fs.readFileSync(f('ca.crt')), headers: withAuth ? { authorization: auth } : {} }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), headers: res.headers }));
      })
      .on('error', reject);
  });
}

async function api<T>(url: string): Promise<T> {
  const r = await get(url);
  if (r.status !== 200) throw new Error(`${url}: HTTP ${r.status} ${r.body}`);
  return JSON.parse(r.body) as T;
}

interface ApiResult {
  direction: string;
  verdict: string;
  lowerSeconds: number | null;
  upperSeconds: number | null;
  estimateSeconds: number | null;
}
interface ApiTarget {
  name: string;
  latest: { results: ApiResult[]; recommendedHeartbeatSeconds: number | null } | null;
  lastAttempt: { status: string } | null;
  heartbeat: { latest: { id: number } | null } | null;
}
interface ApiHistory {
  entries: { status: string; result: { results: (ApiResult & { probes: unknown[] })[] } | null }[];
}

/** The page's console, page errors, failed requests and 4xx/5xx since `from`: all must be empty. */
function expectCleanSince(b: Browser, from: { console: number; errors: number; failed: number; badStatus: number }): void {
  expect(b.events.console.slice(from.console)).toEqual([]);
  expect(b.events.errors.slice(from.errors)).toEqual([]);
  expect(b.events.failed.slice(from.failed)).toEqual([]);
  expect(b.events.badStatus.slice(from.badStatus)).toEqual([]);
}
const mark = (b: Browser) => ({ console: b.events.console.length, errors: b.events.errors.length, failed: b.events.failed.length, badStatus: b.events.badStatus.length });

/** Every plot on the page has a drawn size (the browser laid the SVG out). */
async function plotsDrawn(page: Page): Promise<number> {
  const sizes = await page.$$eval('svg.plot', (svgs) => svgs.map((s) => s.getBoundingClientRect()).map((r) => r.width * r.height));
  for (const s of sizes) expect(s).toBeGreaterThan(10_000);
  return sizes.length;
}

const count = (page: Page, selector: string) => page.locator(selector).count();

/**
 * The report files' CLI runs (a demo search, a heartbeat matrix against a lab) are most of their
 * tests' time, and so is the demo daemon's wait for its first results: the runs start with the
 * first group and go on beside that wait; their tests take the finished files.
 */
let reportRuns: { demo: Promise<Run>; heartbeat: Promise<Run> } | null = null;
function startReportRuns(): { demo: Promise<Run>; heartbeat: Promise<Run> } {
  if (reportRuns) return reportRuns;
  // The lab process is tracked in `children`: the second group's afterAll stops it.
  const heartbeat = startLabProcess(3, 'silent').then(({ facts }) => {
    const target = `${facts.user}@${facts.host}:${facts.port}`;
    return idleprobe(['heartbeat', target, '-i', facts.privateKeyPath, '--host-key', facts.hostKeySha256, '--intervals', '1,6', '--window', '8s', '--json', '--report', f('heartbeat.html')], { timeoutMs: 90_000 });
  });
  // A lab that failed to start fails the heartbeat test (which awaits this), not the run as unhandled.
  heartbeat.catch(() => {});
  reportRuns = { demo: idleprobe(['demo', '--timeout', '3', '--json', '--report', f('demo.html')], { timeoutMs: 120_000 }), heartbeat };
  return reportRuns;
}

describe.skipIf(!avail.available && !avail.mustRun)('pages of serve --demo in Chromium (TLS + basic auth)', () => {
  let serve: Daemon;
  let browser: Browser;
  let targets: ApiTarget[];

  beforeAll(async () => {
    if (!avail.available) throw new Error(`browser tests must run here (IDLEPROBE_REQUIRE_LAB=1): ${avail.reason}`);
    startReportRuns();
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
    openssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=idleprobe browser test CA']);
    fs.writeFileSync(f('server.ext'), 'subjectAltName=IP:127.0.0.1\n');
    openssl(['req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1']);
    openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '2', '-extfile', 'server.ext']);
    fs.writeFileSync(f('web.yml'), `tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\nbasic_auth_users:\n  ${USER}: "${bcrypt.hashSync(PASSWORD, 4)}"\n`);
    serve = await startServe(['--demo', '--web.listen-address', '127.0.0.1:0', '--web.config.file', f('web.yml')], 60);
    expect(serve.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    // The demo's first results: every measurable target measured, the wrong key refused, the matrix run.
    // On a timeout the message shows what each unfinished target was doing (its `running` progress).
    let lastSeen: (ApiTarget & { running?: unknown })[] = [];
    targets = await waitFor(
      'the demo targets measured and the matrix finished',
      async () => {
        const all = (await api<{ targets: ApiTarget[] }>(`${serve.url}/api/targets`)).targets;
        lastSeen = all;
        const by = new Map(all.map((t) => [t.name, t]));
        const measured = DEMO_TARGETS.every((d) => by.get(d.name)?.latest);
        const refused = by.get(DEMO_WRONG_KEY_TARGET)?.lastAttempt?.status === 'failed';
        const matrix = DEMO_TARGETS.filter((d) => d.matrix).every((d) => by.get(d.name)?.heartbeat?.latest);
        return measured && refused && matrix ? all : null;
      },
      300,
      () => [...serve.stderr.slice(-20), ...lastSeen.filter((t) => !t.latest || t.running).map((t) => `${t.name}: running ${JSON.stringify(t.running)}`)].join('\n'),
    );
    // Chromium trusts exactly this server key (its SPKI pinned), and logs in with basic auth.
    const spki = crypto.createHash('sha256').update(new crypto.X509Certificate(fs.readFileSync(f('server.crt'))).publicKey.export({ type: 'spki', format: 'der' })).digest('base64');
    browser = await launchBrowser({ httpCredentials: { username: USER, password: PASSWORD }, extraFlags: [`--ignore-certificate-errors-spki-list=${spki}`] });
  }, 420_000);

  afterAll(async () => {
    await browser?.close();
    // Only the demo daemon: the report runs' lab goes on for the next group.
    serve?.proc.kill('SIGTERM');
    await serve?.exited;
  });

  it('every page route asks for the password and answers over TLS only', async () => {
    for (const route of ['/', `/targets/${DEMO_TARGETS[0].name}`]) {
      expect((await get(`${serve.url}${route}`, false)).status, route).toBe(401);
      const ok = await get(`${serve.url}${route}`);
      expect(ok.status, route).toBe(200);
      expect(ok.headers['content-security-policy']).toMatch(/default-src 'none'; style-src 'self'/);
    }
    const css = /href="(\/assets\/idleprobe-[0-9a-f]+\.css)"/.exec((await get(`${serve.url}/`)).body)![1];
    expect((await get(`${serve.url}${css}`, false)).status).toBe(401);
    expect((await get(`${serve.url}${css}`)).status).toBe(200);
  });

  /**
   * A page and what the API says at the same moment. The demo daemon goes on measuring (every 3
   * minutes, and its matrices): a run that lands between the API read and the page load makes them
   * differ by that run. So the API is read before and after the load, and the page is taken again
   * (at most 3 times) until no run landed in between (`landed`: what a run changes).
   */
  async function pageWithSteadyApi<T>(what: string, url: string, read: () => Promise<T>, landed: (x: T) => unknown): Promise<{ now: T; page: Page }> {
    for (let attempt = 1; ; attempt++) {
      const before = JSON.stringify(landed(await read()));
      const page = await browser.open(url);
      const now = await read();
      if (JSON.stringify(landed(now)) === before) return { now, page };
      await page.close();
      if (attempt === 3) throw new Error(`${what}: a run landed during each of 3 page loads`);
    }
  }
  const readTargets = async () => (await api<{ targets: ApiTarget[] }>(`${serve.url}/api/targets`)).targets;
  const landedOf = (t: ApiTarget) => [t.latest, t.heartbeat?.latest ?? null, t.lastAttempt];

  it('overview: one row per target, statuses and numbers as the API says, clean load, screenshot', async () => {
    const before = mark(browser);
    // The API as the page was drawn (the demo may have measured again since beforeAll).
    const { now, page } = await pageWithSteadyApi('overview', `${serve.url}/?refresh=0`, readTargets, (all) => all.map(landedOf));
    expect(await count(page, 'tr[data-target]')).toBe(now.length);
    for (const t of now) {
      const row = page.locator(`tr[data-target="${t.name}"]`);
      const status = await row.getAttribute('data-status');
      if (t.name === DEMO_WRONG_KEY_TARGET) expect(status).toBe('failing');
      else if (t.latest!.results.every((r) => r.verdict === 'masked')) expect(status).toBe('masked');
      else expect(status).toBe('ok');
      for (const r of t.latest?.results ?? []) {
        const cell = (await row.locator(`td[data-direction="${r.direction}"]`).innerText()).replace(/\s+/g, ' ');
        if (r.verdict === 'timeout') {
          for (const v of [r.lowerSeconds!, r.upperSeconds!, r.estimateSeconds!]) expect(cell).toContain(num(v));
        } else expect(cell).toContain(r.verdict);
      }
      if (t.latest?.recommendedHeartbeatSeconds) expect(await row.innerText()).toContain(`≤ ${num(t.latest.recommendedHeartbeatSeconds)} s`);
    }
    // A sparkline for each target with a timeout; the counts in the summary add up.
    expect(await count(page, 'svg.sparkline')).toBe(now.filter((t) => t.latest?.results.some((r) => r.verdict === 'timeout')).length);
    expect(Number(await page.locator('[data-count="all"]').innerText())).toBe(now.length);
    await browser.screenshot(page, 'serve-overview');
    // Sorting without script: a header link reorders the rows.
    await page.click('thead a:text("Target")');
    await page.waitForLoadState('networkidle');
    const names = await page.$$eval('tr[data-target]', (rows) => rows.map((r) => r.getAttribute('data-target')));
    expect(names).toEqual([...names].sort());
    expectCleanSince(browser, before);
    expect(foreignRequests(browser.events, [serve.url])).toEqual([]);
    // The default page reloads itself, never faster than every 10 s.
    const refresh = /http-equiv="refresh" content="(\d+)"/.exec((await get(`${serve.url}/`)).body);
    expect(Number(refresh?.[1])).toBeGreaterThanOrEqual(10);
    await page.close();
  }, 120_000);

  it('target pages: as many marks as the API has probes, runs and matrix sessions; numbers equal; screenshots', async () => {
    for (const { name } of targets) {
      const before = mark(browser);
      const q = encodeURIComponent(name);
      const read = async () => ({ t: (await readTargets()).find((x) => x.name === name)!, hist: await api<ApiHistory>(`${serve.url}/api/targets/${q}/history?limit=1000`) });
      const {
        now: { t, hist },
        page,
      } = await pageWithSteadyApi(name, `${serve.url}/targets/${q}?refresh=0`, read, ({ t, hist }) => [...landedOf(t), hist.entries.length]);
      const ok = hist.entries.filter((e) => e.status === 'ok' && e.result);
      // Timeout over time: one mark per successful run and direction, one tick per failed run.
      expect(await count(page, '#history [data-mark="run"]'), t.name).toBe(ok.reduce((n, e) => n + e.result!.results.length, 0));
      expect(await count(page, '#history [data-mark="failed-run"]'), t.name).toBe(hist.entries.length - ok.length);
      // The latest search: one mark per probe of the newest successful run, per direction.
      for (const r of ok[0]?.result?.results ?? []) {
        expect(await count(page, `#search-${r.direction} [data-mark="probe"]`), `${t.name} ${r.direction}`).toBe(r.probes.length);
        expect(await count(page, `#search-${r.direction} table.numbers tbody tr`), `${t.name} ${r.direction}`).toBe(Math.max(1, r.probes.length));
      }
      // The latest result's numbers, as text, equal the API's.
      for (const r of t.latest?.results ?? []) {
        const row = page.locator('#latest tbody tr', { hasText: r.direction }).first();
        const cells = await row.locator('td').allInnerTexts();
        expect(cells[1]).toBe(r.verdict);
        for (const [i, v] of [[2, r.lowerSeconds], [3, r.upperSeconds], [4, r.estimateSeconds]] as const) expect(cells[i]).toBe(v === null ? '—' : num(v));
      }
      if (t.heartbeat?.latest) {
        const m = await api<{ latest: { matrix: { results: { survived: boolean }[] } } }>(`${serve.url}/api/targets/${q}/heartbeat`);
        expect(await count(page, '#heartbeat [data-mark="session"]')).toBe(m.latest.matrix.results.length);
        const outcomes = await page.$$eval('#heartbeat table.numbers tbody tr', (rows) => rows.map((r) => r.children[2]?.textContent));
        expect(outcomes).toEqual(m.latest.matrix.results.map((r) => (r.survived ? 'lived' : 'died')));
      }
      if (t.latest) expect(await plotsDrawn(page)).toBeGreaterThanOrEqual(1 + t.latest.results.filter((r) => r.verdict !== 'unsupported').length);
      await browser.screenshot(page, `serve-target-${t.name}`);
      expectCleanSince(browser, before);
      await page.close();
    }
    expect(foreignRequests(browser.events, [serve.url])).toEqual([]);
  }, 180_000);
});

describe.skipIf(!avail.available && !avail.mustRun)('--report files in Chromium (real CLI runs)', () => {
  let browser: Browser;

  beforeAll(async () => {
    if (!avail.available) throw new Error(`browser tests must run here (IDLEPROBE_REQUIRE_LAB=1): ${avail.reason}`);
    browser = await launchBrowser();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    for (const c of children) c.kill('SIGTERM');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Opens a report file: clean, self-contained (no request but the file), screenshot. */
  async function openReport(file: string, name: string): Promise<Page> {
    const before = mark(browser);
    const requestsBefore = browser.events.requests.length;
    const url = pathToFileURL(file).href;
    const page = await browser.open(url);
    expectCleanSince(browser, before);
    expect(browser.events.requests.slice(requestsBefore)).toEqual([url]);
    // The inline stylesheet applied (its CSP hash matched): the header bar is dark, not default white.
    expect(await page.evaluate('getComputedStyle(document.querySelector("header.top")).backgroundColor')).toBe('rgb(36, 41, 47)');
    await plotsDrawn(page);
    await browser.screenshot(page, name);
    return page;
  }

  it('demo --report: one probe mark per probe of the JSON', async () => {
    const r = await startReportRuns().demo;
    expect(r.code, show(r)).toBe(0);
    const doc = JSON.parse(r.stdout) as { results: { direction: string; probes: unknown[]; estimateSeconds: number | null }[] };
    const page = await openReport(f('demo.html'), 'report-demo');
    for (const d of doc.results) {
      expect(await count(page, `#search-${d.direction} [data-mark="probe"]`)).toBe(d.probes.length);
      if (d.estimateSeconds !== null) expect(await page.locator('.card table.kv').innerText()).toContain(num(d.estimateSeconds));
    }
    expect(await page.locator('pre.summary-text').innerText()).toMatch(/idle timeout/);
    await page.close();
  }, 150_000);

  it('heartbeat --report: one bar per session of the matrix', async () => {
    const r = await startReportRuns().heartbeat;
    expect(r.code, show(r)).toBe(0);
    const m = JSON.parse(r.stdout) as { results: { survived: boolean }[] };
    const page = await openReport(f('heartbeat.html'), 'report-heartbeat');
    expect(await count(page, '[data-mark="session"]')).toBe(m.results.length);
    const outcomes = await page.$$eval('#heartbeat table.numbers tbody tr', (rows) => rows.map((row) => row.children[2]?.textContent));
    expect(outcomes).toEqual(m.results.map((x) => (x.survived ? 'lived' : 'died')));
    await page.close();
  }, 120_000);

  it('analyze --report: every connection that lived or died idle is a mark', async () => {
    const capture = path.join(path.dirname(new URL(import.meta.url).pathname), '..', 'fixtures', 'captures', 'lab', 'client-eth.pcap');
    const r = await idleprobe(['analyze', capture, '--json', '--report', f('analyze.html')]);
    expect(r.code, show(r)).toBe(0);
    const rep = JSON.parse(r.stdout) as { flows: { maxIdleSurvivedSeconds: number | null; diedAfterIdleSeconds: number | null }[] };
    const page = await openReport(f('analyze.html'), 'report-analyze');
    expect(await count(page, '[data-mark="flow-lived"]')).toBe(rep.flows.filter((x) => x.maxIdleSurvivedSeconds !== null).length);
    expect(await count(page, '[data-mark="flow-died"]')).toBe(rep.flows.filter((x) => x.diedAfterIdleSeconds !== null).length);
    expect(await count(page, '[data-mark="bin"]')).toBeGreaterThan(0);
    await page.close();
  }, 60_000);

  it('a locate report (the document the lab test writes for real) draws one mark per box and names the hops', async () => {
    const doc = locateDoc('alice@198.18.1.2:22');
    fs.writeFileSync(f('locate.html'), locateReport(doc, { command: 'idleprobe locate alice@198.18.1.2', version: 'test', generatedAt: new Date(), summaryText: 'hop 1 forgets idle connections after 8.3 s' }));
    const page = await openReport(f('locate.html'), 'report-locate');
    expect(await count(page, '[data-mark="box"]')).toBe(doc.boxes.length);
    expect(await page.locator('[data-mark="hop"]').allTextContents()).toEqual(doc.hops.map((h) => h.address ?? '*'));
    await page.close();
  });
});
