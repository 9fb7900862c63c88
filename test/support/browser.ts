// A real headless Chromium for the page and report tests: Debian's /usr/bin/chromium driven by
// playwright-core (which never downloads a browser), a fresh profile per launch, nothing that
// phones home, and a dead proxy for anything that is not loopback — so a request that tried to
// leave 127.0.0.1 fails (and is reported) instead of leaving. Every console message, page error,
// failed request and non-2xx response is recorded for the test to assert on; screenshots go to
// test/artifacts/screenshots/ (git-ignored; CI keeps the folder as its artifact).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { repo } from '../integration/daemon-harness.ts';

export const CHROMIUM = process.env.IDLEPROBE_CHROMIUM ?? '/usr/bin/chromium';
export const SCREENSHOT_DIR = path.join(repo, 'test', 'artifacts', 'screenshots');

/**
 * Whether the browser tests can run here. In CI (IDLEPROBE_REQUIRE_LAB=1) a missing browser is an
 * error, never a skip: the caller's beforeAll throws with this message.
 */
export function browserAvailability(): { available: boolean; mustRun: boolean; reason: string } {
  const available = fs.existsSync(CHROMIUM);
  return {
    available,
    mustRun: process.env.IDLEPROBE_REQUIRE_LAB === '1',
    reason: available ? '' : `no Chromium at ${CHROMIUM} (Debian package chromium; IDLEPROBE_CHROMIUM names another binary)`,
  };
}

/** Flags of every launch: headless, no sandbox (root in CI), nothing in the background. */
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
  '--disable-default-apps',
  '--disable-extensions',
  // Anything that is not loopback goes to a proxy nothing listens on (Chromium never proxies loopback).
  '--proxy-server=http://127.0.0.1:9',
];

export interface PageEvents {
  console: string[];
  errors: string[];
  failed: string[];
  badStatus: string[];
  requests: string[];
}

export interface Browser {
  context: BrowserContext;
  events: PageEvents;
  /** Opens `url` in a new page and waits until it loaded (no network activity left). */
  open(url: string): Promise<Page>;
  screenshot(page: Page, name: string): Promise<string>;
  close(): Promise<void>;
}

export async function launchBrowser(opts: { httpCredentials?: { username: string; password: string }; extraFlags?: string[] } = {}): Promise<Browser> {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'idleprobe-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [...CHROMIUM_FLAGS, ...(opts.extraFlags ?? [])],
    viewport: { width: 1280, height: 900 },
    ...(opts.httpCredentials ? { httpCredentials: opts.httpCredentials } : {}),
  });
  const events: PageEvents = { console: [], errors: [], failed: [], badStatus: [], requests: [] };
  context.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') events.console.push(`${m.type()}: ${m.text()}`);
  });
  context.on('weberror', (e) => events.errors.push(e.error().message));
  context.on('requestfailed', (r) => events.failed.push(`${r.url()}: ${r.failure()?.errorText ?? 'failed'}`));
  context.on('request', (r) => events.requests.push(r.url()));
  context.on('response', (r) => {
    if (r.status() >= 400) events.badStatus.push(`${r.status()} ${r.url()}`);
  });
  fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
  return {
    context,
    events,
    async open(url) {
      const page = await context.newPage();
      await page.goto(url, { waitUntil: 'networkidle' });
      return page;
    },
    async screenshot(page, name) {
      const file = path.join(SCREENSHOT_DIR, `${name}.png`);
      await page.screenshot({ path: file, fullPage: true });
      return file;
    },
    async close() {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** The requests of a run that went anywhere but `allowed` (URL prefixes). */
export function foreignRequests(events: PageEvents, allowed: string[]): string[] {
  return events.requests.filter((u) => !allowed.some((a) => u.startsWith(a)));
}
