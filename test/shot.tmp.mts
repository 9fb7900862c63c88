import { chromium } from 'playwright-core';
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'] });
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
page.on('console', (m) => console.log('console', m.type(), m.text()));
page.on('requestfailed', (r) => console.log('failed', r.url()));
page.on('request', (r) => console.log('req', r.url()));
for (const [name, url] of [['live-overview', 'http://127.0.0.1:19923/?refresh=0'], ['live-nat', 'http://127.0.0.1:19923/targets/nat-12s-silent?refresh=0']]) {
  await page.goto(url);
  await page.screenshot({ path: `/tmp/pic/${name}.png`, fullPage: true });
}
await browser.close();
