// End-to-end: `idleprobe locate --report` run for real in the netns chain (NAT 4 s at hop 1,
// firewall 8 s at hop 3; chain.ts), and the report it wrote opened in Chromium: one box mark per
// located box, every hop's address under the profile, no console error, no request but the file.
// The locate results themselves are checked by locate.lab.test.ts; this checks the picture of them.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { describeRun, requireLab } from './lab.ts';
import { createChainLab, type ChainLab } from './chain.ts';
import { browserAvailability, launchBrowser } from '../support/browser.ts';

const env = requireLab();
const browser = browserAvailability();
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idleprobe-locate-report-'));
let lab: ChainLab | null = null;
afterAll(async () => {
  await lab?.destroy();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!env.available || (!browser.available && !browser.mustRun))(`locate --report in the netns chain${env.available ? '' : ` (skipped: ${env.reason})`}`, () => {
  it('the report draws the located boxes at their hops, with the traced addresses', async () => {
    if (!browser.available) throw new Error(`browser tests must run here (IDLEPROBE_REQUIRE_LAB=1): ${browser.reason}`);
    lab = await createChainLab({ boxes: { r1: { timeoutSeconds: 4, mode: 'drop', nat: true }, r3: { timeoutSeconds: 8, mode: 'drop' } } });
    const file = path.join(dir, 'locate.html');
    const run = await lab.locate(['--min', '2', '--max', '12', '--json', '--report', file], { timeoutMs: 150_000 });
    expect(run.code, describeRun(run)).toBe(0);
    const doc = JSON.parse(run.stdout) as { boxes: { hop: number }[]; hops: { hop: number; address: string | null }[] };
    expect(doc.boxes.length).toBeGreaterThan(0);
    const b = await launchBrowser();
    try {
      const url = pathToFileURL(file).href;
      const page = await b.open(url);
      expect(await page.locator('[data-mark="box"]').count()).toBe(doc.boxes.length);
      expect(await page.locator('[data-mark="hop"]').allTextContents()).toEqual(doc.hops.map((h) => h.address ?? '*'));
      expect(await page.locator('#locate table.numbers tbody tr').count()).toBe(Math.max(...doc.hops.map((h) => h.hop), ...doc.boxes.map((x) => x.hop)) + 1);
      await b.screenshot(page, 'report-locate-lab');
      expect(b.events.console).toEqual([]);
      expect(b.events.errors).toEqual([]);
      expect(b.events.failed).toEqual([]);
      expect(b.events.requests).toEqual([url]);
    } finally {
      await b.close();
    }
  }, 240_000);
});
