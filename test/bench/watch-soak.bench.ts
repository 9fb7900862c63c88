// Soak benchmark of the live path of `idleprobe watch` (npm run bench:watch): ≥ 10 M packets of
// ≥ 10 k SSH connections over ~2 days of capture time, streamed into `idleprobe watch --read - --json`
// (the same path as a live capture: reader → analyser → events), while this process samples the
// child's resident memory once a second. Memory must follow the connections alive (≈ 600 at a
// time), not the packets or connections seen: it prints RSS over time and the ratio end / start
// (start = the first sample after 1 M packets, when the JIT and the pools have settled).
//
//   node --import tsx test/bench/watch-soak.bench.ts [--connections 20000] [--heartbeats 170]
//
// Each connection: handshake, SSH banners both ways, a heartbeat every 30 s answered (OpenSSH's
// ServerAliveInterval shape), then FIN — except one in ten, whose last heartbeat goes unanswered
// (retransmitted, then silence: the NAT forgot it) and which is never closed, so only the live
// path's forgetting of idle state (after 2 h) removes it.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const CONNECTIONS = arg('connections', 20_000);
const HEARTBEATS = arg('heartbeats', 170);
const HEARTBEAT_EVERY = 30;
/** New connection every ARRIVAL s: lifetime 170 × 30 s = 85 min → ≈ 630 alive at once. */
const ARRIVAL = 8.1;
const T0 = 1_790_000_000;
const LINKTYPE_RAW = 101;
const BIN = fileURLToPath(new URL('../../bin/idleprobe.mjs', import.meta.url));

const SERVER_BANNER = Buffer.from('SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n');
const CLIENT_BANNER = Buffer.from('SSH-2.0-OpenSSH_9.2p1\r\n');

const FIN = 0x01;
const SYN = 0x02;
const PSH = 0x08;
const ACK = 0x10;

interface Conn {
  i: number;
  start: number;
  cseq: number;
  sseq: number;
  step: number;
  dies: boolean;
  /** Time of the next packet. */
  next: number;
}

const steps = 7 + 3 * HEARTBEATS + 3;

/** Time of step `s` of a connection that started at `start`. */
function stepTime(c: Conn, s: number): number {
  if (s < 7) return c.start + 0.01 * s;
  const k = s - 7;
  const hb = Math.floor(k / 3);
  if (hb < HEARTBEATS) {
    if (c.dies && hb === HEARTBEATS - 1) return c.start + HEARTBEAT_EVERY * (hb + 1) + [0, 0.2, 0.6][k % 3];
    return c.start + HEARTBEAT_EVERY * (hb + 1) + 0.01 * (k % 3);
  }
  if (c.dies) return c.start + HEARTBEAT_EVERY * HEARTBEATS + [1.4, 3, 6.2][k - 3 * HEARTBEATS];
  return c.start + HEARTBEAT_EVERY * HEARTBEATS + 1 + 0.01 * (k - 3 * HEARTBEATS);
}

const pkt = Buffer.alloc(16 + 40 + 64);

/** Writes the packet of step `c.step` into `pkt`; returns its length (record header included). */
function build(c: Conn, ts: number): number {
  const s = c.step;
  let fromClient: boolean;
  let flags: number;
  let payload: Buffer | number = 0;
  if (s === 0) [fromClient, flags] = [true, SYN];
  else if (s === 1) [fromClient, flags] = [false, SYN | ACK];
  else if (s === 2) [fromClient, flags] = [true, ACK];
  else if (s === 3) [fromClient, flags, payload] = [false, PSH | ACK, SERVER_BANNER];
  else if (s === 4) [fromClient, flags] = [true, ACK];
  else if (s === 5) [fromClient, flags, payload] = [true, PSH | ACK, CLIENT_BANNER];
  else if (s === 6) [fromClient, flags] = [false, ACK];
  else {
    const k = s - 7;
    const hb = Math.floor(k / 3);
    if (hb < HEARTBEATS) {
      if (c.dies && hb === HEARTBEATS - 1) [fromClient, flags, payload] = [true, PSH | ACK, 52]; // the heartbeat and its retransmissions
      else [fromClient, flags, payload] = [[true, false, true][k % 3], PSH | ACK, [52, 36, 0][k % 3]];
    } else if (c.dies) [fromClient, flags, payload] = [true, PSH | ACK, 52];
    else [fromClient, flags] = [[true, false, true][k - 3 * HEARTBEATS], [FIN | ACK, FIN | ACK, ACK][k - 3 * HEARTBEATS]];
  }
  const len = typeof payload === 'number' ? payload : payload.length;
  const retransmission = c.dies && s >= 7 + 3 * (HEARTBEATS - 1) + 1;
  if (retransmission && fromClient) c.cseq -= len; // same bytes again
  const ip = 16;
  pkt.fill(0, ip, ip + 40 + len);
  pkt[ip] = 0x45;
  pkt.writeUInt16BE(40 + len, ip + 2);
  pkt[ip + 8] = 64;
  pkt[ip + 9] = 6;
  const client = (0xc6120000 | ((c.i % 50) + 1)) >>> 0; // 198.18.0.x: 50 client hosts
  const server = 0xc6130001; // 198.19.0.1
  const cport = 10_000 + (c.i % 50_000);
  pkt.writeUInt32BE(fromClient ? client : server, ip + 12);
  pkt.writeUInt32BE(fromClient ? server : client, ip + 16);
  pkt.writeUInt16BE(fromClient ? cport : 22, ip + 20);
  pkt.writeUInt16BE(fromClient ? 22 : cport, ip + 22);
  pkt.writeUInt32BE((fromClient ? c.cseq : c.sseq) >>> 0, ip + 24);
  pkt.writeUInt32BE(flags & ACK ? (fromClient ? c.sseq : c.cseq) >>> 0 : 0, ip + 28);
  pkt[ip + 32] = 5 << 4;
  pkt[ip + 33] = flags;
  pkt.writeUInt16BE(502, ip + 34);
  if (typeof payload !== 'number') payload.copy(pkt, ip + 40);
  const adv = len + (flags & (SYN | FIN) ? 1 : 0);
  if (fromClient) c.cseq += adv;
  else c.sseq += adv;
  const sec = Math.floor(ts);
  pkt.writeUInt32LE(sec, 0);
  pkt.writeUInt32LE(Math.round((ts - sec) * 1e6), 4);
  pkt.writeUInt32LE(40 + len, 8);
  pkt.writeUInt32LE(40 + len, 12);
  return 16 + 40 + len;
}

/** Min-heap of connections by their next packet time. */
class Heap {
  private readonly a: Conn[] = [];
  get size(): number {
    return this.a.length;
  }
  push(c: Conn): void {
    const a = this.a;
    a.push(c);
    for (let i = a.length - 1; i > 0; ) {
      const p = (i - 1) >> 1;
      if (a[p].next <= a[i].next) break;
      [a[p], a[i]] = [a[i], a[p]];
      i = p;
    }
  }
  peek(): Conn {
    return this.a[0];
  }
  pop(): Conn {
    const a = this.a;
    const top = a[0];
    const last = a.pop()!;
    if (a.length) {
      a[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && a[l].next < a[m].next) m = l;
        if (r < a.length && a[r].next < a[m].next) m = r;
        if (m === i) break;
        [a[m], a[i]] = [a[i], a[m]];
        i = m;
      }
    }
    return top;
  }
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function main(): Promise<void> {
  const child = spawn(process.execPath, [BIN, 'watch', '--read', '-', '--json'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const counts: Record<string, number> = {};
  let summary: Record<string, unknown> | null = null;
  createInterface({ input: child.stdout }).on('line', (line) => {
    const e = JSON.parse(line) as { event: string };
    counts[e.event] = (counts[e.event] ?? 0) + 1;
    if (e.event === 'summary') summary = e;
  });
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));

  const samples: Array<{ s: number; packets: number; rss: number }> = [];
  let fed = 0;
  const started = Date.now();
  const sampler = setInterval(() => {
    try {
      samples.push({ s: (Date.now() - started) / 1000, packets: fed, rss: rssMb(child.pid!) });
    } catch {
      /* exited */
    }
  }, 1000);

  const header = Buffer.alloc(24);
  header.writeUInt32LE(0xa1b2c3d4, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(262_144, 16);
  header.writeUInt32LE(LINKTYPE_RAW, 20);
  const out = child.stdin;
  out.write(header);

  const heap = new Heap();
  let nextConn = 0;
  const startConn = (): void => {
    const i = nextConn++;
    const c: Conn = { i, start: T0 + i * ARRIVAL, cseq: 1000 + i * 7919, sseq: 5000 + i * 104_729, step: 0, dies: i % 10 === 9, next: 0 };
    c.next = stepTime(c, 0);
    heap.push(c);
  };
  startConn();
  const chunk = Buffer.alloc(1 << 20);
  let used = 0;
  while (heap.size > 0) {
    while (nextConn < CONNECTIONS && T0 + nextConn * ARRIVAL <= heap.peek().next) startConn();
    const c = heap.pop();
    const n = build(c, c.next);
    if (used + n > chunk.length) {
      if (!out.write(Buffer.from(chunk.subarray(0, used)))) await new Promise((r) => out.once('drain', r));
      used = 0;
    }
    pkt.copy(chunk, used, 0, n);
    used += n;
    fed++;
    c.step++;
    if (c.step < steps) {
      c.next = stepTime(c, c.step);
      heap.push(c);
    }
    if (heap.size === 0 && nextConn < CONNECTIONS) startConn();
  }
  out.end(Buffer.from(chunk.subarray(0, used)));
  const code = await exited;
  clearInterval(sampler);
  const wall = (Date.now() - started) / 1000;

  const warm = samples.find((x) => x.packets >= 1_000_000) ?? samples[0];
  const last = samples.filter((x) => x.packets < fed).at(-1) ?? samples.at(-1)!;
  const peak = Math.max(...samples.map((x) => x.rss));
  console.log(`watch soak: ${fed.toLocaleString('en')} packets, ${CONNECTIONS.toLocaleString('en')} connections, ${((CONNECTIONS * ARRIVAL + HEARTBEATS * HEARTBEAT_EVERY) / 3600).toFixed(1)} h of capture time, in ${wall.toFixed(1)} s wall (exit ${code})`);
  console.log('RSS over time (s, packets fed, MB):');
  const every = Math.max(1, Math.floor(samples.length / 20));
  for (let i = 0; i < samples.length; i += every) console.log(`  ${samples[i].s.toFixed(0).padStart(4)} s  ${samples[i].packets.toLocaleString('en').padStart(11)}  ${samples[i].rss.toFixed(1)} MB`);
  console.log(`start (after ${warm.packets.toLocaleString('en')} packets) ${warm.rss.toFixed(1)} MB, end (after ${last.packets.toLocaleString('en')}) ${last.rss.toFixed(1)} MB, peak ${peak.toFixed(1)} MB: ratio end/start ${(last.rss / warm.rss).toFixed(2)}`);
  console.log(`events: ${JSON.stringify(counts)}`);
  const { paths: _p, verdicts: _v, ...totals } = (summary ?? {}) as Record<string, unknown>;
  console.log(`summary: ${JSON.stringify(totals)}`);
  if (code !== 0) process.exitCode = 1;
}

await main();
