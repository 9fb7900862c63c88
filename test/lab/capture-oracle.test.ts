// tshark as the oracle: on every committed lab capture, on a capture made fresh by the lab right now
// (real OpenSSH + kernel keepalive through a conntrack NAT), and on scripted conversations, the
// counts of tcp.analysis.keep_alive and keep_alive_ack — per file and per connection — must equal
// what `tshark -r F -Y …` reports; on the committed proxy captures (HAProxy closing idle sessions)
// also the packets and the facts of each close. Needs root (network namespaces), tshark, tcpdump, sshd, nft.
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createReadStream } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyzeStream, type AnalysisReport } from '../../src/capture/index.ts';
import { Conversation, asFrames, fixturePath, mergeByTime, writePcap, writePcapng } from '../fixtures/captures/synth.ts';

function which(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function labAvailability(): { ok: boolean; reason: string } {
  if (process.platform !== 'linux') return { ok: false, reason: 'not Linux' };
  if (process.getuid?.() !== 0) return { ok: false, reason: 'not root (network namespaces need root)' };
  for (const cmd of ['tshark', 'tcpdump', 'dumpcap', 'ip', 'nft', 'ssh', 'ssh-keygen', 'python3']) {
    if (!which(cmd)) return { ok: false, reason: `${cmd} not installed` };
  }
  if (!existsSync('/usr/sbin/sshd')) return { ok: false, reason: '/usr/sbin/sshd not installed (openssh-server)' };
  return { ok: true, reason: '' };
}

const lab = labAvailability();
if (!lab.ok && process.env.IDLEPROBE_REQUIRE_LAB === '1') {
  throw new Error(`IDLEPROBE_REQUIRE_LAB=1 but the capture lab cannot run: ${lab.reason}`);
}

/** tshark's per-connection counts for a display filter: key = sorted "addr:port|addr:port". */
function tsharkCounts(file: string, filter: string): Map<string, number> {
  const out = execFileSync('tshark', ['-n', '-r', file, '-Y', filter, '-T', 'fields', '-e', 'ip.src', '-e', 'ipv6.src', '-e', 'tcp.srcport', '-e', 'ip.dst', '-e', 'ipv6.dst', '-e', 'tcp.dstport'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'], // tshark warns about running as root on stderr
    timeout: 60_000,
    maxBuffer: 64 << 20,
  });
  const counts = new Map<string, number>();
  for (const line of out.split('\n')) {
    if (!line.trim()) continue;
    const [s4, s6, sp, d4, d6, dp] = line.split('\t');
    const src = s4 ? `${s4}:${sp}` : `[${s6}]:${sp}`;
    const dst = d4 ? `${d4}:${dp}` : `[${d6}]:${dp}`;
    const key = [src, dst].sort().join('|');
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

interface TsharkClose {
  packets: number;
  /** Source address of the connection's first FIN or RST, null if none. */
  closer: string | null;
  /** `rst` when that segment is a reset, or its sender's next segment is one before the peer sends anything. */
  closedWith: 'fin' | 'rst' | null;
  /** Payload bytes of that segment. */
  closeLen: number;
  /** Seconds from the last segment with data (not a keepalive) or SYN to it. */
  idleBeforeClose: number | null;
}

/** Per connection (key as tsharkCounts), from tshark's own dissection of every TCP segment. */
function tsharkCloses(file: string): Map<string, TsharkClose> {
  const fields = ['tcp.stream', 'frame.time_epoch', 'ip.src', 'tcp.srcport', 'ip.dst', 'tcp.dstport', 'tcp.flags.syn', 'tcp.flags.fin', 'tcp.flags.reset', 'tcp.len', 'tcp.analysis.keep_alive'];
  const out = execFileSync('tshark', ['-n', '-r', file, '-Y', 'tcp', '-T', 'fields', ...fields.flatMap((f) => ['-e', f])], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 60_000, maxBuffer: 64 << 20 });
  const streams = new Map<string, { key: string; rows: string[][] }>();
  for (const line of out.split('\n')) {
    if (!line.trim()) continue;
    const row = line.split('\t');
    const key = [`${row[2]}:${row[3]}`, `${row[4]}:${row[5]}`].sort().join('|');
    const s = streams.get(row[0]) ?? { key, rows: [] };
    s.rows.push(row);
    streams.set(row[0], s);
  }
  const result = new Map<string, TsharkClose>();
  for (const { key, rows } of streams.values()) {
    let lastActivity = NaN;
    let close: TsharkClose = { packets: rows.length, closer: null, closedWith: null, closeLen: 0, idleBeforeClose: null };
    for (const [i, row] of rows.entries()) {
      const [ts, src, syn, fin, rst, len, ka] = [Number(row[1]), row[2], row[6] === '1', row[7] === '1', row[8] === '1', Number(row[9]), row[10] === '1'];
      if ((fin || rst) && close.closer === null) {
        let closedWith: 'fin' | 'rst' = rst ? 'rst' : 'fin';
        const next = rows.slice(i + 1).find((r) => r[2] !== src || r[8] === '1');
        if (next && next[2] === src && next[8] === '1') closedWith = 'rst';
        close = { ...close, closer: src, closedWith, closeLen: len, idleBeforeClose: Math.round((ts - lastActivity) * 1000) / 1000 };
      }
      if ((len > 0 && !ka) || syn) lastActivity = ts;
    }
    result.set(key, close);
  }
  return result;
}

function ourCounts(r: AnalysisReport, field: 'tcpKeepalives' | 'tcpKeepaliveAcks'): Map<string, number> {
  const counts = new Map<string, number>();
  for (const f of r.flows) {
    if (f[field] === 0) continue;
    const key = [f.client, f.server].sort().join('|');
    counts.set(key, (counts.get(key) ?? 0) + f[field]);
  }
  return counts;
}

async function expectSameAsTshark(file: string): Promise<{ keepalives: number; acks: number }> {
  const r = await analyzeStream(createReadStream(file), { scope: 'all', maxFlows: 1_000_000 });
  const ka = tsharkCounts(file, 'tcp.analysis.keep_alive');
  const kaAck = tsharkCounts(file, 'tcp.analysis.keep_alive_ack');
  const total = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
  expect(r.tcpKeepalives, `${file}: keep_alive total`).toBe(total(ka));
  expect(r.tcpKeepaliveAcks, `${file}: keep_alive_ack total`).toBe(total(kaAck));
  expect(ourCounts(r, 'tcpKeepalives'), `${file}: keep_alive per connection`).toEqual(ka);
  expect(ourCounts(r, 'tcpKeepaliveAcks'), `${file}: keep_alive_ack per connection`).toEqual(kaAck);
  return { keepalives: r.tcpKeepalives, acks: r.tcpKeepaliveAcks };
}

describe.skipIf(!lab.ok)(`tshark oracle${lab.ok ? '' : ` (skipped: ${lab.reason})`}`, () => {
  const tmp = mkdtempSync(join(tmpdir(), 'ipcap-oracle-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  const committed = readdirSync(new URL('../fixtures/captures/lab/', import.meta.url)).filter((n) => /\.(pcap|pcapng)$/.test(n));
  it('the committed fixtures cover Ethernet, SLL, SLL2-nanosecond and pcapng', () => {
    expect(committed.sort()).toEqual(['client-eth.pcap', 'mbox-any-sll2-nano.pcap', 'mbox-multi.pcapng', 'server-sll.pcap']);
  });
  for (const name of committed) {
    it(`committed ${name}: keepalive and keepalive-ACK counts per file and per connection equal tshark's`, { timeout: 60_000 }, async () => {
      const counts = await expectSameAsTshark(fixturePath(name));
      expect(counts.keepalives).toBeGreaterThan(0);
    });
  }

  // HAProxy closing idle SSH sessions (make-fixtures.sh proxy): what closed_idle is decided on — who
  // sent the first FIN/RST, whether its sender aborted (a reset before the peer spoke), the seconds
  // without data before it (TCP keepalives are no data) — and the packet counts, against tshark.
  for (const name of ['proxy-client.pcap', 'proxy-server.pcap']) {
    it(`committed proxy/${name}: keepalive counts, packets and the facts of each close equal tshark's`, { timeout: 60_000 }, async () => {
      const file = fixturePath(name, 'proxy');
      await expectSameAsTshark(file);
      const r = await analyzeStream(createReadStream(file), { scope: 'all', maxFlows: 1_000_000 });
      const oracle = tsharkCloses(file);
      expect(r.flows.length).toBe(oracle.size);
      let closedIdle = 0;
      for (const f of r.flows) {
        const t = oracle.get([f.client, f.server].sort().join('|'));
        expect(t, `${name}: ${f.client}`).toBeDefined();
        const clientAddr = f.client.slice(0, f.client.lastIndexOf(':'));
        expect(
          { packets: f.packets, closedBy: f.closedBy, closedWith: f.closedWith },
          `${name}: ${f.client}`,
        ).toEqual({ packets: t!.packets, closedBy: t!.closer === null ? null : t!.closer === clientAddr ? 'client' : 'server', closedWith: t!.closedWith });
        expect(f.idleBeforeCloseSeconds!, `${name}: ${f.client}`).toBeCloseTo(t!.idleBeforeClose!, 3);
        if (f.end === 'closed_idle') {
          closedIdle++;
          // Closed idle only on tshark's evidence too: a bare segment after ≥ 1 s without data.
          expect(t!.closeLen, `${name}: ${f.client}`).toBe(0);
          expect(t!.idleBeforeClose!, `${name}: ${f.client}`).toBeGreaterThanOrEqual(1);
        }
      }
      expect(closedIdle, name).toBe(4);
    });
  }

  describe('a capture made now by the lab', () => {
    const out = join(tmp, 'fresh');
    let made = false;
    const ipcapNamespaces = () => execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').filter((l) => l.startsWith('ipcap-')).sort();
    let before: string[] = [];
    beforeAll(async () => {
      before = ipcapNamespaces();
      const script = new URL('../fixtures/captures/make-fixtures.sh', import.meta.url).pathname;
      await new Promise<void>((resolve, reject) => {
        execFile('bash', [script, out, 'quick'], { timeout: 90_000 }, (err, _stdout, stderr) => (err ? reject(new Error(`make-fixtures.sh failed: ${err.message}\n${stderr}`)) : resolve()));
      });
      made = true;
    }, 120_000);

    it('client (Ethernet) and middlebox (SLL2, ns) captures agree with tshark and show the dying keepalive socket', { timeout: 60_000 }, async () => {
      expect(made).toBe(true);
      for (const name of ['client-eth.pcap', 'mbox-any-sll2-nano.pcap']) {
        const counts = await expectSameAsTshark(join(out, name));
        expect(counts.keepalives, name).toBeGreaterThanOrEqual(3);
      }
      const r = await analyzeStream(createReadStream(join(out, 'client-eth.pcap')), { scope: { port: 2222 } });
      const died = r.flows.filter((f) => f.diedAfterIdleSeconds !== null);
      const lived = r.flows.filter((f) => f.tcpKeepaliveAcks > 0 && f.diedAfterIdleSeconds === null);
      expect(died.length, 'keepalive every 8 s through a 6 s NAT dies').toBe(1);
      expect(died[0].diedAfterIdleSeconds!).toBeGreaterThan(6);
      expect(lived.length, 'keepalive every 3 s survives').toBe(1);
      // The generator removed the namespaces it created.
      expect(ipcapNamespaces()).toEqual(before);
    });
  });

  it('scripted edge cases (1-byte keepalives, window changes, port reuse, pcapng) agree with tshark', { timeout: 60_000 }, async () => {
    const T0 = 1_790_000_000;
    const a = new Conversation('198.18.9.2', 45000, '198.19.9.2', 22, 5000).handshake(T0).data(T0 + 0.1, true, 100);
    a.keepalive(T0 + 10, true).keepalive(T0 + 20, true, 0.01, true, true).keepalive(T0 + 30, false, 0.01, false);
    a.retransmit(T0 + 31, true, 1).data(T0 + 32, true, 10).keepalive(T0 + 40, true, 0.01, true).fin(T0 + 41);
    const b = new Conversation('198.18.9.2', 45000, '198.19.9.2', 22, 777777).handshake(T0 + 50).keepalive(T0 + 60, true).rst(T0 + 61, true);
    const c = new Conversation('198.18.9.3', 45001, '198.19.9.2', 22).handshake(T0).data(T0 + 0.1, false, 100);
    for (let k = 1; k < 8; k++) c.keepalive(T0 + 5 * k, k % 2 === 0, 0.01, k !== 5);
    const packets = mergeByTime(a.frames, b.frames, c.frames);
    const pcap = join(tmp, 'scripted.pcap');
    writeFileSync(pcap, writePcap(asFrames(packets), 1));
    const ng = join(tmp, 'scripted.pcapng');
    writeFileSync(ng, writePcapng([{ linkType: 1, tsresol: 9 }], asFrames(packets, 'vlan')));
    for (const f of [pcap, ng]) {
      const counts = await expectSameAsTshark(f);
      expect(counts.keepalives).toBeGreaterThanOrEqual(8);
    }
    // And the port-reuse split is the same as tshark's conversation count.
    const r = await analyzeStream(Readable.from([writePcap(asFrames(packets), 1)]), { scope: 'all' });
    const streams = execFileSync('tshark', ['-n', '-r', pcap, '-T', 'fields', '-e', 'tcp.stream'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    expect(r.flowCount).toBe(new Set(streams.split('\n').filter(Boolean)).size);
  });
});
