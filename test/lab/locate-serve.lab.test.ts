// `idleprobe serve` with `locate: true`, run for real in the client namespace of the
// cli–r1–r2–r3–srv chain (chain.ts) with a NAT of 4 s at hop 1 and a firewall of 8 s at hop 3,
// against Debian's sshd: the daemon measures the path (4 s), locate follows it, and the scrape
// shows idleprobe_middlebox_hop = 1 and both boxes' timeouts. serve listens on a fixed port inside
// the lab's own namespace (no other process shares it); scrapes run in that namespace too.
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describeRun, requireLab } from './lab.ts';
import { serveInLab } from './serve-in-lab.ts';
import { CHAIN_ADDRESSES, createChainLab, type ChainLab } from './chain.ts';
import { METRIC } from '../../src/exporter/metric-names.ts';

const env = requireLab();
const LISTEN = '127.0.0.1:9923';
const SERVE_LIMIT_MS = 240_000;

let lab: ChainLab | null = null;
let dir: string | null = null;
afterEach(async () => {
  await lab?.destroy();
  lab = null;
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = null;
});

function sample(text: string, name: string, labels: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe.skipIf(!env.available)(`idleprobe serve with locate: true in the netns chain${env.available ? '' : ` (skipped: ${env.reason})`}`, () => {
  it('exports the enforcing hop (NAT 4 s at hop 1, firewall 8 s at hop 3) after the first measurement', async () => {
    lab = await createChainLab({ boxes: { r1: { timeoutSeconds: 4, mode: 'drop', nat: true }, r3: { timeoutSeconds: 8, mode: 'drop' } } });
    dir = mkdtempSync(path.join(tmpdir(), 'idleprobe-locate-serve-'));
    const config = path.join(dir, 'idleprobe.yml');
    writeFileSync(
      config,
      `global:
  jitter_seconds: 0
targets:
  - name: chain
    host: ${CHAIN_ADDRESSES.srv}
    user: root
    private_key_file: ${lab.clientKeyPath}
    known_hosts_file: ${lab.knownHostsPath}
    directions: [outbound]
    min_seconds: 2
    max_seconds: 12
    schedule: "0 0 1 1 *"
    locate: true
    locate_max_hops: 6
    locate_schedule: "0 0 1 1 *"
`,
    );
    const serve = serveInLab(lab, ['--config', config, '--history', path.join(dir, 'history.sqlite')], LISTEN, SERVE_LIMIT_MS);
    const { get } = serve;
    let metrics = '';
    try {
      // Bounded in count and time; fails (with serve's log) instead of ending silently.
      const deadline = Date.now() + SERVE_LIMIT_MS - 20_000;
      for (let i = 0; i < 200 && Date.now() < deadline && !serve.ended(); i++) {
        const r = await get('/metrics');
        if (r.code === 0 && sample(r.stdout, METRIC.middleboxHop, 'target="chain"') !== undefined) {
          metrics = r.stdout;
          break;
        }
        await new Promise((res) => setTimeout(res, 2000));
      }
      const api = await get('/api/targets/chain/locate');
      const ended = serve.ended();
      if (!metrics) throw new Error(`no ${METRIC.middleboxHop} sample\napi: ${api.stdout.slice(0, 2000)}\n${ended ? describeRun(ended) : ''}`);
      console.log(`[lab] serve locate: ${api.stdout.slice(0, 1500)}`);
      expect(sample(metrics, METRIC.middleboxHop, 'target="chain"')).toBe(1);
      expect(Math.abs(sample(metrics, METRIC.middleboxTimeout, 'target="chain",hop="1"')! - 4)).toBeLessThanOrEqual(1);
      expect(Math.abs(sample(metrics, METRIC.middleboxTimeout, 'target="chain",hop="3"')! - 8)).toBeLessThanOrEqual(1);
      expect(sample(metrics, METRIC.middleboxTimeoutUpper, 'target="chain",hop="1"')).toBeGreaterThanOrEqual(3);
      const doc = JSON.parse(api.stdout);
      expect(doc.enforcingHop).toBe(1);
      expect(doc.latest.document.boxes.map((b: { hop: number; address: string }) => [b.hop, b.address])).toEqual([
        [1, CHAIN_ADDRESSES.r1.cliSide],
        [3, CHAIN_ADDRESSES.r3.cliSide],
      ]);
    } finally {
      const r = await serve.stop();
      if (r.code !== 0 && r.code !== null) console.log(describeRun(r));
    }
  }, SERVE_LIMIT_MS + 30_000);
});
