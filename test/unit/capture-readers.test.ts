// Readers and link decoding: the same real packets (from a lab capture, read with pcap-parser)
// re-encoded into every container, byte order, timestamp resolution and link type must give the
// same analysis as the original file.
import { createRequire } from 'node:module';
import { Readable } from 'node:stream';
import { beforeAll, describe, expect, it } from 'vitest';
import { analyzeStream, readCapture, type AnalysisReport } from '../../src/capture/index.ts';
import type { PacketSink } from '../../src/capture/packet-sink.ts';
import {
  LINK_TYPE_OF,
  asFrames,
  chunked,
  fixture,
  fixturePath,
  fragmentIpv4,
  ipPacketsFromEthernetPcap,
  toIpv6WithExtensions,
  withIpv4Options,
  wrapLink,
  writePcap,
  writePcapng,
  type IpPacket,
  type LinkVariant,
} from '../fixtures/captures/synth.ts';

/** What must not change when only the encoding changes. */
function essence(r: AnalysisReport, keepAddresses = true) {
  const addr = (e: string) => (keepAddresses ? e : e.slice(e.lastIndexOf(':') + 1));
  return {
    tcpKeepalives: r.tcpKeepalives,
    tcpKeepaliveAcks: r.tcpKeepaliveAcks,
    flows: r.flows.map((f) => ({
      client: addr(f.client),
      server: addr(f.server),
      packets: f.packets,
      tcpKeepalives: f.tcpKeepalives,
      tcpKeepaliveAcks: f.tcpKeepaliveAcks,
      heartbeats: f.heartbeats,
      heartbeatsAnswered: f.heartbeatsAnswered,
      unanswered: f.unanswered,
      diedAfterIdleSeconds: f.diedAfterIdleSeconds === null ? null : Math.round(f.diedAfterIdleSeconds * 100),
      maxIdleSurvivedSeconds: f.maxIdleSurvivedSeconds === null ? null : Math.round(f.maxIdleSurvivedSeconds * 100),
      end: f.end,
    })),
  };
}

let packets: IpPacket[];
let baseline: AnalysisReport;

beforeAll(async () => {
  packets = await ipPacketsFromEthernetPcap(fixturePath('client-eth.pcap'));
  baseline = await analyzeStream(Readable.from([fixture('client-eth.pcap')]), { scope: 'all' });
});

describe('baseline fixture', () => {
  it('has keepalives, heartbeats and dead connections to compare against', () => {
    expect(packets.length).toBe(baseline.packets);
    expect(baseline.tcpKeepalives).toBeGreaterThan(0);
    expect(baseline.tcpKeepaliveAcks).toBeGreaterThan(0);
    expect(baseline.flows.some((f) => f.diedAfterIdleSeconds !== null)).toBe(true);
    expect(baseline.flows.some((f) => f.heartbeatsAnswered > 0)).toBe(true);
  });
});

describe('containers', () => {
  const variants: [string, () => Buffer][] = [
    ['pcap µs little-endian', () => writePcap(asFrames(packets), 1)],
    ['pcap µs big-endian', () => writePcap(asFrames(packets), 1, { bigEndian: true })],
    ['pcap ns little-endian', () => writePcap(asFrames(packets), 1, { nanos: true })],
    ['pcap ns big-endian', () => writePcap(asFrames(packets), 1, { nanos: true, bigEndian: true })],
    ['pcapng little-endian, default µs resolution', () => writePcapng([{ linkType: 1 }], asFrames(packets))],
    ['pcapng big-endian, if_tsresol 10^-9', () => writePcapng([{ linkType: 1, tsresol: 9 }], asFrames(packets), { bigEndian: true })],
    ['pcapng if_tsresol 2^-20 with unknown blocks', () => writePcapng([{ linkType: 1, tsresol: 0x80 | 20 }], asFrames(packets), { unknownBlocks: true })],
  ];
  for (const [name, make] of variants) {
    it(`${name}: same analysis as the original`, async () => {
      const r = await analyzeStream(Readable.from([make()]), { scope: 'all' });
      expect(r.packets).toBe(baseline.packets);
      expect(essence(r)).toEqual(essence(baseline));
      expect(r.format).toBe(name.startsWith('pcapng') ? 'pcapng' : 'pcap');
    });
  }

  it('pcapng with two interfaces of different link types and resolutions', async () => {
    // Alternate packets between an Ethernet/µs interface and an SLL2/ns interface.
    const frames = packets.map((p, i) => ({ tsNs: p.tsNs, data: wrapLink(i % 2 ? 'sll2' : 'ethernet', p.ip), iface: i % 2 }));
    const bytes = writePcapng([{ linkType: 1, tsresol: 6 }, { linkType: 276, tsresol: 9 }], frames, { unknownBlocks: true });
    const r = await analyzeStream(Readable.from([bytes]), { scope: 'all' });
    expect(r.linkTypes).toEqual(['ETHERNET', 'LINUX_SLL2']);
    expect(essence(r)).toEqual(essence(baseline));
  });

  it('pcapng simple packet blocks (no timestamps) are read', async () => {
    const bytes = writePcapng([{ linkType: 1 }], asFrames(packets.slice(0, 20)), { simplePackets: true });
    const seen: number[] = [];
    const sink: PacketSink = { onFormat() {}, onInterface() {}, onPacket: (_l, _t, _d, _o, capLen) => void seen.push(capLen) };
    await readCapture(Readable.from([bytes]), sink, { maxPackets: Infinity });
    expect(seen).toEqual(packets.slice(0, 20).map((p) => p.ip.length + 14));
  });

  it('timestamps keep their resolution: µs and ns files agree to the microsecond', async () => {
    const times = async (bytes: Buffer) => {
      const t: number[] = [];
      await readCapture(Readable.from([bytes]), { onFormat() {}, onInterface() {}, onPacket: (_l, ts) => void t.push(ts) }, { maxPackets: Infinity });
      return t;
    };
    const shifted = packets.map((p) => ({ tsNs: p.tsNs + 123n, data: wrapLink('ethernet', p.ip) }));
    const [us, ns, ng9] = await Promise.all([times(writePcap(shifted, 1)), times(writePcap(shifted, 1, { nanos: true })), times(writePcapng([{ linkType: 1, tsresol: 9 }], shifted))]);
    for (let i = 0; i < us.length; i++) {
      const exact = Number(shifted[i].tsNs) / 1e9;
      expect(Math.abs(ns[i] - exact)).toBeLessThan(1e-6);
      expect(Math.abs(ng9[i] - exact)).toBeLessThan(1e-6);
      expect(Math.abs(us[i] - exact)).toBeLessThan(2e-6);
    }
  });
});

describe('link types', () => {
  const variants: LinkVariant[] = ['ethernet', 'vlan', 'qinq', 'sll', 'sll2', 'raw', 'ipv4', 'null-le', 'null-be', 'loop'];
  for (const v of variants) {
    it(`${v} (LINKTYPE ${LINK_TYPE_OF[v]})`, async () => {
      const r = await analyzeStream(Readable.from([writePcap(asFrames(packets, v), LINK_TYPE_OF[v])]), { scope: 'all' });
      expect(r.skipped.malformed + r.skipped.notTcp + r.skipped.unsupportedLink).toBe(0);
      expect(essence(r)).toEqual(essence(baseline));
    });
  }

  it('IPv4 with options', async () => {
    const r = await analyzeStream(Readable.from([writePcap(packets.map((p) => ({ tsNs: p.tsNs, data: wrapLink('ethernet', withIpv4Options(p.ip)) })), 1)]), { scope: 'all' });
    expect(essence(r)).toEqual(essence(baseline));
  });

  for (const v of ['ethernet', 'ipv6', 'null-le', 'null-be'] as LinkVariant[]) {
    it(`IPv6 with hop-by-hop and destination-options headers over ${v}`, async () => {
      const v6 = packets.map((p) => ({ tsNs: p.tsNs, data: wrapLink(v, toIpv6WithExtensions(p.ip)) }));
      const r = await analyzeStream(Readable.from([writePcap(v6, LINK_TYPE_OF[v])]), { scope: 'all' });
      expect(essence(r, false)).toEqual(essence(baseline, false));
      expect(r.flows[0].client).toMatch(/^\[2001:db8::[0-9a-f:]+\]:\d+$/);
    });
  }

  it('IPv4 fragments are counted and skipped; unknown link types are counted', async () => {
    const [a, b] = fragmentIpv4(packets[10].ip);
    const frames = [
      ...asFrames(packets.slice(0, 10)),
      { tsNs: packets[10].tsNs, data: wrapLink('ethernet', a) },
      { tsNs: packets[10].tsNs, data: wrapLink('ethernet', b) },
    ];
    const r = await analyzeStream(Readable.from([writePcap(frames, 1)]), { scope: 'all' });
    expect(r.skipped.ipFragments).toBe(2);
    expect(r.tcpPackets).toBe(10);
    const odd = await analyzeStream(Readable.from([writePcap(asFrames(packets.slice(0, 5)), 147)]), { scope: 'all' });
    expect(odd.skipped.unsupportedLink).toBe(5);
  });

  it('truncated packets (small snaplen) are counted as malformed, not fatal', async () => {
    const frames = packets.slice(0, 30).map((p) => ({ tsNs: p.tsNs, data: wrapLink('ethernet', p.ip).subarray(0, 30), origLen: p.ip.length + 14 }));
    const r = await analyzeStream(Readable.from([writePcap(frames, 1, { snapLen: 30 })]), { scope: 'all' });
    expect(r.packets).toBe(30);
    expect(r.skipped.malformed).toBe(30);
  });
});

describe('streaming', () => {
  it('any chunking of the input gives the same report (records straddling chunks)', async () => {
    const bytes = fixture('mbox-multi.pcapng');
    const whole = await analyzeStream(Readable.from([bytes]), { scope: 'all' });
    for (const sizes of [[1], [3, 7, 4096], [65536], [17, 1, 100000]]) {
      const r = await analyzeStream(chunked(bytes, sizes), { scope: 'all' });
      expect(r).toEqual(whole);
    }
  });

  it('pulls input only as fast as it analyses (a lazy source is not drained ahead)', async () => {
    const bytes = fixture('client-eth.pcap');
    let pulled = 0;
    async function* lazy() {
      for (let at = 0; at < bytes.length; at += 1024) {
        pulled++;
        yield bytes.subarray(at, at + 1024);
      }
    }
    const r = await analyzeStream(lazy(), { scope: 'all', maxPackets: 5 });
    expect(r.packets).toBe(5);
    expect(r.truncatedAtMaxPackets).toBe(true);
    // 5 small packets fit in the first 2 KiB: the rest of the file was never requested.
    expect(pulled).toBeLessThanOrEqual(2);
  });

  it('Uint8Array chunks are accepted; text chunks are refused with a clear error', async () => {
    const bytes = fixture('client-eth.pcap');
    const r = await analyzeStream((async function* () { yield new Uint8Array(bytes); })() as AsyncIterable<Buffer>, { scope: 'all' });
    expect(r.packets).toBe(baseline.packets);
    await expect(analyzeStream(Readable.from(['not bytes']) as unknown as AsyncIterable<Buffer>)).rejects.toThrow(/text, not bytes/);
  });
});

describe('pcap-parser as an independent cross-check on valid classic pcap files', () => {
  const require = createRequire(import.meta.url);
  const pcapParser = require('pcap-parser') as { parse(input: string): import('node:events').EventEmitter };
  for (const name of ['client-eth.pcap', 'server-sll.pcap']) {
    it(`${name}: same packet count, timestamps and lengths`, async () => {
      const theirs: [number, number, number][] = [];
      const parser = pcapParser.parse(fixturePath(name));
      await new Promise<void>((resolve, reject) => {
        parser.on('packet', (p: { header: { timestampSeconds: number; timestampMicroseconds: number; capturedLength: number; originalLength: number } }) =>
          theirs.push([p.header.timestampSeconds * 1e6 + p.header.timestampMicroseconds, p.header.capturedLength, p.header.originalLength]),
        );
        parser.on('end', resolve);
        parser.on('error', reject);
      });
      const ours: [number, number, number][] = [];
      await readCapture(Readable.from([fixture(name)]), { onFormat() {}, onInterface() {}, onPacket: (_l, ts, _d, _o, cap, orig) => void ours.push([Math.round(ts * 1e6), cap, orig]) }, { maxPackets: Infinity });
      expect(ours.length).toBeGreaterThan(100);
      expect(ours).toEqual(theirs);
    });
  }
});
