// Benchmark of `idleprobe analyze` (npm run bench:capture). Synthesises captures of ≥ 2 M packets
// from real lab flows (the OpenSSH heartbeat, kernel keepalive and dying sessions of
// test/fixtures/captures/lab/client-eth.pcap, replayed by 2,000 concurrent connections with shifted
// addresses, ports, sequence numbers and times) into a temp dir, then measures in one run:
//   - raw record walk in JS (the floor: read each record header, skip the bytes),
//   - the full analysis (decode, Wireshark keepalive rules, idle/heartbeat analysis, report),
//   - pcap-parser 0.2.1 reading the same file (events only, no decoding),
//   - tshark -r F -Y tcp.analysis.keep_alive on a 200 k-packet file (it is ~50× slower),
// and peak RSS of the analysis on two file sizes with the same connections (memory must not grow
// with the file). Each measurement runs in its own process.
//
//   node --import tsx test/bench/capture.bench.ts [--packets 4000000] [--keep]
// Rates are the best of 3 fresh processes each (the machine is shared); RSS is the largest of them.
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, createReadStream, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { analyzeStream } from '../../src/capture/index.ts';
import { fixturePath, ipPacketsFromEthernetPcap, wrapLink, type IpPacket } from '../fixtures/captures/synth.ts';

const CONNECTIONS = 2000;
const TSHARK_PACKETS = 200_000;
/** Fresh processes per measurement; the fastest counts (peak RSS: the largest). */
const RUNS = 3;

// ---- child processes: one measurement each ------------------------------------------------------

async function child(mode: string, file: string): Promise<void> {
  // Collect the garbage of loading tsx and the modules first, so neither reader pays for it.
  (globalThis as { gc?: () => void }).gc?.();
  const started = process.hrtime.bigint();
  const cpuStart = process.cpuUsage();
  let packets = 0;
  let extra: Record<string, unknown> = {};
  if (mode === 'walk') {
    let rest: Buffer | null = null;
    let first = true;
    for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
      const buf: Buffer = rest && rest.length ? Buffer.concat([rest, chunk]) : chunk;
      let pos = first ? 24 : 0;
      first = false;
      while (buf.length - pos >= 16) {
        const len = buf.readUInt32LE(pos + 8);
        if (buf.length - pos < 16 + len) break;
        packets++;
        pos += 16 + len;
      }
      rest = buf.subarray(pos);
    }
  } else if (mode === 'analyze') {
    const r = await analyzeStream(createReadStream(file, { highWaterMark: 1 << 20 }), { scope: 'all', maxFlows: 10 });
    packets = r.packets;
    extra = { flows: r.flowCount, tcpKeepalives: r.tcpKeepalives, tcpKeepaliveAcks: r.tcpKeepaliveAcks };
  } else if (mode === 'pcap-parser') {
    const require = createRequire(import.meta.url);
    const parser = (require('pcap-parser') as { parse(f: string): import('node:events').EventEmitter }).parse(file);
    await new Promise<void>((resolve, reject) => {
      parser.on('packet', () => void packets++);
      parser.on('end', resolve);
      parser.on('error', reject);
    });
  }
  const wallSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = process.cpuUsage(cpuStart);
  // CPU time (all threads of the process), not wall time: the machine is shared and busy.
  const seconds = (cpu.user + cpu.system) / 1e6;
  process.stdout.write(JSON.stringify({ packets, seconds, wallSeconds, maxRssMB: process.resourceUsage().maxRSS / 1024, ...extra }));
}

type Measurement = { packets: number; seconds: number; wallSeconds: number; maxRssMB: number; [k: string]: unknown };

/** Best (fastest) of `runs` fresh processes: the machine is shared, the minimum is the least noisy. */
function measure(mode: string, file: string, runs = 1): Measurement {
  const self = fileURLToPath(import.meta.url);
  const all: Measurement[] = [];
  for (let i = 0; i < runs; i++) {
    const out = execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', self, '--child', mode, file], { encoding: 'utf8', timeout: 600_000, maxBuffer: 1 << 20 });
    all.push(JSON.parse(out) as Measurement);
  }
  const best = all.reduce((a, b) => (b.seconds < a.seconds ? b : a));
  return { ...best, maxRssMB: Math.max(...all.map((m) => m.maxRssMB)) };
}

// ---- capture synthesis -------------------------------------------------------------------------

interface TemplatePacket {
  fromClient: boolean;
  relT: number;
  frame: Buffer;
  seglen: number;
}

interface Template {
  handshake: TemplatePacket[];
  body: TemplatePacket[];
  span: number;
  /** Bytes each side sends per repetition of the body (sequence numbers advance by this). */
  advance: [number, number];
  serverPort: number;
}

function flowKey(ip: Buffer): string {
  const a = `${ip.readUInt32BE(12)}:${ip.readUInt16BE(20)}`;
  const b = `${ip.readUInt32BE(16)}:${ip.readUInt16BE(22)}`;
  return a < b ? `${a}|${b}` : `${b}|${a}`;
}

function templates(packets: IpPacket[]): Template[] {
  const flows = new Map<string, IpPacket[]>();
  for (const p of packets) {
    const k = flowKey(p.ip);
    if (!flows.has(k)) flows.set(k, []);
    flows.get(k)!.push(p);
  }
  const out: Template[] = [];
  for (const list of flows.values()) {
    const syn = list.find((p) => (p.ip[33] & 0x12) === 0x02);
    if (!syn) continue;
    const clientAddr = syn.ip.readUInt32BE(12);
    const t0 = list[0].tsNs;
    const tp = list.map((p) => {
      const ihl = (p.ip[0] & 15) * 4;
      const seglen = p.ip.readUInt16BE(2) - ihl - (p.ip[ihl + 12] >> 4) * 4;
      return { fromClient: p.ip.readUInt32BE(12) === clientAddr, relT: Number(p.tsNs - t0) / 1e9, frame: wrapLink('ethernet', p.ip), seglen, flags: p.ip[ihl + 13] };
    });
    const handshake = tp.slice(0, 3);
    // Repeat what lies between the handshake and the first FIN/RST: the connection stays open.
    const end = tp.findIndex((p, i) => i >= 3 && (p.flags & 0x05) !== 0);
    const body = tp.slice(3, end < 0 ? tp.length : end);
    if (body.length === 0) continue;
    const advance: [number, number] = [0, 0];
    for (const p of body) advance[p.fromClient ? 0 : 1] += p.seglen;
    out.push({ handshake, body, span: body[body.length - 1].relT - body[0].relT + 1, advance, serverPort: syn.ip.readUInt16BE(22) });
  }
  return out;
}

/** Writes a pcap of at least `target` packets; the same CONNECTIONS connections, more repetitions. */
function synthesize(file: string, tpls: Template[], target: number, baseTs: number): number {
  const fd = openSync(file, 'w');
  const batch = Buffer.alloc(8 << 20);
  let used = 0;
  const flush = () => {
    writeSync(fd, batch, 0, used);
    used = 0;
  };
  const header = Buffer.alloc(24);
  header.writeUInt32LE(0xa1b2c3d4, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(262144, 16);
  header.writeUInt32LE(1, 20);
  header.copy(batch, 0);
  used = 24;
  let written = 0;
  const emit = (p: TemplatePacket, conn: number, t: number, seqShift: number, ackShift: number) => {
    if (used + 16 + p.frame.length > batch.length) flush();
    const sec = Math.floor(t);
    batch.writeUInt32LE(sec, used);
    batch.writeUInt32LE(Math.floor((t - sec) * 1e6), used + 4);
    batch.writeUInt32LE(p.frame.length, used + 8);
    batch.writeUInt32LE(p.frame.length, used + 12);
    const f = used + 16;
    p.frame.copy(batch, f);
    // Rewrite the client address/port (198.18.0.0/15 lab space) and shift sequence numbers.
    const client = ((198 << 24) | (18 << 16) | ((10 + (conn >> 8)) << 8) | (conn & 255)) >>> 0;
    const port = 20000 + conn;
    const ip = f + 14;
    if (p.fromClient) {
      batch.writeUInt32BE(client, ip + 12);
      batch.writeUInt16BE(port, ip + 20);
    } else {
      batch.writeUInt32BE(client, ip + 16);
      batch.writeUInt16BE(port, ip + 22);
    }
    batch.writeUInt32BE((batch.readUInt32BE(ip + 24) + seqShift) >>> 0, ip + 24);
    batch.writeUInt32BE((batch.readUInt32BE(ip + 28) + ackShift) >>> 0, ip + 28);
    used += 16 + p.frame.length;
    written++;
  };
  for (let c = 0; c < CONNECTIONS; c++) {
    const tp = tpls[c % tpls.length];
    for (const p of tp.handshake) emit(p, c, baseTs + c * 0.001 + p.relT, 0, 0);
  }
  for (let k = 0; written < target; k++) {
    for (let c = 0; c < CONNECTIONS && written < target; c++) {
      const tp = tpls[c % tpls.length];
      const t0 = baseTs + c * 0.001 + k * tp.span;
      for (const p of tp.body) {
        const mine = p.fromClient ? tp.advance[0] : tp.advance[1];
        const theirs = p.fromClient ? tp.advance[1] : tp.advance[0];
        emit(p, c, t0 + p.relT, k * mine, k * theirs);
      }
    }
  }
  flush();
  closeSync(fd);
  return written;
}

/** A pcap of at least `packets` packets from the lab fixture (also used by startup.bench.ts). */
export async function synthesizeBenchCapture(file: string, packets: number): Promise<number> {
  const real = await ipPacketsFromEthernetPcap(fixturePath('client-eth.pcap'));
  return synthesize(file, templates(real), packets, Math.floor(Number(real[0].tsNs / 1_000_000_000n)));
}

// ---- main --------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const ci = args.indexOf('--child');
  if (ci >= 0) return child(args[ci + 1], args[ci + 2]);
  const pi = args.indexOf('--packets');
  const large = pi >= 0 ? Number(args[pi + 1]) : 4_000_000;
  const keep = args.includes('--keep');

  const real = await ipPacketsFromEthernetPcap(fixturePath('client-eth.pcap'));
  const tpls = templates(real);
  const dir = mkdtempSync(join(tmpdir(), 'ipcap-bench-'));
  try {
    const base = Math.floor(Number(real[0].tsNs / 1_000_000_000n));
    const files = {
      tshark: join(dir, 'small.pcap'),
      half: join(dir, 'half.pcap'),
      large: join(dir, 'large.pcap'),
    };
    const counts = {
      tshark: synthesize(files.tshark, tpls, TSHARK_PACKETS, base),
      half: synthesize(files.half, tpls, Math.floor(large / 2), base),
      large: synthesize(files.large, tpls, large, base),
    };
    const mb = (f: string) => (statSync(f).size / 1e6).toFixed(0);
    console.log(`synthesised from ${tpls.length} real flows × ${CONNECTIONS} connections: ${counts.large} packets (${mb(files.large)} MB), ${counts.half} (${mb(files.half)} MB), ${counts.tshark} (${mb(files.tshark)} MB) in ${dir}`);

    // Warm the page cache so the first measurement does not pay for the disk.
    measure('walk', files.large);
    const walk = measure('walk', files.large, RUNS);
    const analysis = measure('analyze', files.large, RUNS);
    const analysisHalf = measure('analyze', files.half, RUNS);
    const parser = measure('pcap-parser', files.large);
    const ours200k = measure('analyze', files.tshark);

    // tshark's CPU time from the shell's `times` (children's user and system time).
    const ts = spawnSync('bash', ['-c', 'tshark -n -r "$1" -Y tcp.analysis.keep_alive > "$1.out" 2>/dev/null; times', 'bash', files.tshark], { encoding: 'utf8', timeout: 900_000 });
    const childTimes = ts.stdout.trim().split('\n').pop()!.split(/\s+/).map((v) => {
      const m = /^(\d+)m([\d.]+)s$/.exec(v);
      return m ? Number(m[1]) * 60 + Number(m[2]) : 0;
    });
    const tsharkSeconds = childTimes[0] + childTimes[1];
    const tsharkKeepalives = readFileSync(`${files.tshark}.out`, 'utf8').split('\n').filter((l) => l.trim()).length;

    const rate = (m: { packets: number; seconds: number }) => m.packets / m.seconds;
    const fmt = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)} M/s` : `${(n / 1e3).toFixed(0)} k/s`);
    const rows: [string, number, number, string, string][] = [
      ['raw record walk (JS floor)', walk.packets, walk.seconds, fmt(rate(walk)), `${walk.maxRssMB.toFixed(0)} MB`],
      ['full analysis', analysis.packets, analysis.seconds, fmt(rate(analysis)), `${analysis.maxRssMB.toFixed(0)} MB`],
      ['full analysis, half file', analysisHalf.packets, analysisHalf.seconds, fmt(rate(analysisHalf)), `${analysisHalf.maxRssMB.toFixed(0)} MB`],
      ['pcap-parser 0.2.1 (no decode)', parser.packets, parser.seconds, fmt(rate(parser)), `${parser.maxRssMB.toFixed(0)} MB`],
      [`tshark -Y tcp.analysis.keep_alive (${counts.tshark} pkts)`, counts.tshark, tsharkSeconds, fmt(counts.tshark / tsharkSeconds), '-'],
    ];
    console.log('');
    console.log(`${'reader'.padEnd(48)} ${'packets'.padStart(9)} ${'CPU s'.padStart(8)} ${'rate'.padStart(10)} ${'peak RSS'.padStart(9)}`);
    for (const [name, p, s, r, m] of rows) console.log(`${name.padEnd(48)} ${String(p).padStart(9)} ${s.toFixed(2).padStart(8)} ${r.padStart(10)} ${m.padStart(9)}`);
    const ratio = rate(analysis) / rate(walk);
    const walkWall = walk.packets / walk.wallSeconds;
    const analysisWall = analysis.packets / analysis.wallSeconds;
    console.log('');
    console.log(`analysis / raw walk (CPU time): ${(ratio * 100).toFixed(0)} % (target ≥ 40 %: ${ratio >= 0.4 ? 'met' : 'NOT met'})`);
    console.log(`analysis / raw walk (wall time, noisy on a shared machine): ${((analysisWall / walkWall) * 100).toFixed(0)} % (${fmt(analysisWall)} vs ${fmt(walkWall)})`);
    console.log(`analysis / tshark: ${(rate(analysis) / (counts.tshark / tsharkSeconds)).toFixed(0)}×`);
    console.log(`peak RSS ${analysisHalf.maxRssMB.toFixed(0)} MB at ${analysisHalf.packets} packets vs ${analysis.maxRssMB.toFixed(0)} MB at ${analysis.packets} (same ${CONNECTIONS} connections)`);
    console.log(`keepalives on the ${counts.tshark}-packet file: ours ${String(ours200k.tcpKeepalives)}, tshark ${tsharkKeepalives}${ours200k.tcpKeepalives === tsharkKeepalives ? ' (equal)' : ' (DIFFERENT)'}`);
  } finally {
    if (!keep) rmSync(dir, { recursive: true, force: true });
  }
}

// Imported by startup.bench.ts for synthesizeBenchCapture(): only run when executed directly.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
