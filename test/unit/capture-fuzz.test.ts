// Seeded fuzzing: ≥ 10,000 mutations of real lab captures. Every case must either produce a report
// or reject with a CaptureFormatError whose offset lies inside the input — never another error,
// never a hang. Seed and case index are in the failure message, so a failure replays exactly.
import { describe, expect, it } from 'vitest';
import { analyzeStream, CaptureFormatError, type AnalysisReport } from '../../src/capture/index.ts';
import { fixture } from '../fixtures/captures/synth.ts';
import { mulberry32 } from '../../src/search/sim/prng.ts';

const SEED = Number(process.env.IDLEPROBE_FUZZ_SEED ?? 20261127);
const CASES = Number(process.env.IDLEPROBE_FUZZ_CASES ?? 20_000);
/** Mutating only a prefix keeps each case fast; the prefix still holds hundreds of records. */
const PREFIX = 16 * 1024;

const INTERESTING_U32 = [0, 1, 0x7fffffff, 0xffffffff, 0x80000000, 0xfffffffc, 12, 16, 28, 262144, 262145, 0x0a0d0d0a, 0xa1b2c3d4];

function mutate(base: Buffer, rand: () => number): Buffer {
  const pick = (n: number) => Math.floor(rand() * n);
  let b: Buffer = Buffer.from(base);
  const rounds = 1 + pick(4);
  for (let r = 0; r < rounds; r++) {
    switch (pick(7)) {
      case 0: // flip bits
        for (let i = 1 + pick(8); i > 0; i--) b[pick(b.length)] ^= 1 << pick(8);
        break;
      case 1: // random byte values
        for (let i = 1 + pick(8); i > 0; i--) b[pick(b.length)] = pick(256);
        break;
      case 2: // an interesting 32-bit value, at a 4-aligned offset (hits length fields often)
        if (b.length >= 4) {
          const at = pick(b.length >> 2) << 2;
          const v = INTERESTING_U32[pick(INTERESTING_U32.length)];
          if (pick(2)) b.writeUInt32LE(v >>> 0, Math.min(at, b.length - 4));
          else b.writeUInt32BE(v >>> 0, Math.min(at, b.length - 4));
        }
        break;
      case 3: // truncate
        b = b.subarray(0, pick(b.length + 1));
        break;
      case 4: // delete a slice
        if (b.length > 2) {
          const at = pick(b.length);
          b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1 + pick(64))]);
        }
        break;
      case 5: // insert random bytes
        {
          const at = pick(b.length + 1);
          const ins = Buffer.alloc(1 + pick(32));
          for (let i = 0; i < ins.length; i++) ins[i] = pick(256);
          b = Buffer.concat([b.subarray(0, at), ins, b.subarray(at)]);
        }
        break;
      case 6: // duplicate a slice elsewhere
        if (b.length > 8) {
          const from = pick(b.length - 4);
          const slice = b.subarray(from, from + 4 + pick(200));
          const at = pick(b.length);
          b = Buffer.concat([b.subarray(0, at), slice, b.subarray(at)]);
        }
        break;
    }
  }
  return b;
}

async function* inChunks(b: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let at = 0; at < b.length; at += size) yield b.subarray(at, at + size);
  if (b.length === 0) yield b;
}

/** The fixture cut at the last record/block boundary before PREFIX, so the unmutated base is valid. */
function validPrefix(b: Buffer): Buffer {
  const pcapng = b.readUInt32LE(0) === 0x0a0d0d0a;
  let at = pcapng ? 0 : 24;
  for (;;) {
    const next = pcapng ? at + b.readUInt32LE(at + 4) : at + 16 + b.readUInt32LE(at + 8);
    if (next > PREFIX || next > b.length) return b.subarray(0, at);
    at = next;
  }
}

/** What any report implies, whatever the input: its counts add up and fit in the bytes read. */
function checkReport(r: AnalysisReport, input: Buffer, what: string): void {
  const s = r.skipped;
  // Every packet is TCP or skipped for a reason; each took at least a 16-byte record or block.
  expect(s.notTcp + s.ipFragments + s.malformed + s.unsupportedLink + r.tcpPackets, what).toBe(r.packets);
  expect(s.otherPort, what).toBeLessThanOrEqual(r.tcpPackets);
  expect(r.packets * 16, what).toBeLessThanOrEqual(input.length);
  expect(r.tcpKeepalives + r.tcpKeepaliveAcks, what).toBeLessThanOrEqual(r.tcpPackets);
  expect(r.flowsOmitted, what).toBe(r.flowCount - r.flows.length);
  expect(r.flowCount, what).toBeLessThanOrEqual(r.tcpPackets);
  for (const f of r.flows) {
    expect(f.packets, what).toBeGreaterThan(0);
    expect(f.heartbeatsAnswered, what).toBeLessThanOrEqual(f.heartbeats);
    if (f.maxIdleSurvivedSeconds !== null) expect(f.maxIdleSurvivedSeconds, what).toBeLessThanOrEqual(f.maxIdleSeconds);
    if (f.diedAfterIdleSeconds !== null) expect(f.diedAfterIdleSeconds, what).toBeLessThanOrEqual(f.maxIdleSeconds);
    expect(f.diedAt === null, what).toBe(f.diedAfterIdleSeconds === null);
  }
  const b = r.idleTimeoutBracket;
  expect(b.consistent, what).toBe(b.lowerSeconds === null || b.upperSeconds === null || b.lowerSeconds < b.upperSeconds);
  expect(r.verdicts, what).toHaveLength(r.paths.length);
  // Nothing interrupts a test's read: an incomplete report is one cut short, inside the input.
  if (r.incomplete !== null) {
    expect(r.incomplete.cause, what).toBe('cut_short');
    expect(r.incomplete.byteOffset, what).toBeLessThanOrEqual(input.length);
  }
}

/** Complete records (pcap) or packet blocks (pcapng) in the first `length` bytes of a valid capture, and whether one is cut. */
function recordsIn(b: Buffer, length: number): { complete: number; cut: boolean } {
  const pcapng = b.readUInt32LE(0) === 0x0a0d0d0a;
  let at = pcapng ? 0 : 24;
  let complete = 0;
  while (at < length) {
    const size = pcapng ? b.readUInt32LE(at + 4) : 16 + b.readUInt32LE(at + 8);
    if (at + size > length) return { complete, cut: true };
    const type = pcapng ? b.readUInt32LE(at) : 6;
    if (type === 6 || type === 3 || type === 2) complete++;
    at += size;
  }
  return { complete, cut: false };
}

describe('fuzz: mutated real captures', () => {
  const bases = ['client-eth.pcap', 'server-sll.pcap', 'mbox-any-sll2-nano.pcap', 'mbox-multi.pcapng'].map((n) => validPrefix(fixture(n)));

  it('the unmutated bases are valid captures', async () => {
    for (const b of bases) expect((await analyzeStream(inChunks(b, 4096), { scope: 'all' })).packets).toBeGreaterThan(20);
  });

  it(`${CASES} seeded cases (seed ${SEED}) end in a report or a CaptureFormatError`, { timeout: 180_000 }, async () => {
    const rand = mulberry32(SEED);
    const started = Date.now();
    const outcomes = { reports: 0, errors: 0 };
    for (let i = 0; i < CASES; i++) {
      const input = mutate(bases[i % bases.length], rand);
      const chunk = [input.length + 1, 4096, 333, 64][i % 4];
      const caseStart = Date.now();
      try {
        const r = await analyzeStream(inChunks(input, chunk), { scope: i % 3 === 0 ? { port: 22 } : i % 3 === 1 ? 'all' : 'ssh' });
        checkReport(r, input, `case ${i} (seed ${SEED})`);
        JSON.stringify(r); // the report must serialise (no cycles, no BigInt)
        outcomes.reports++;
      } catch (err) {
        if (!(err instanceof CaptureFormatError)) {
          throw new Error(`case ${i} (seed ${SEED}): unexpected ${(err as Error)?.stack ?? String(err)}`, { cause: err });
        }
        expect(err.byteOffset, `case ${i}`).toBeGreaterThanOrEqual(0);
        expect(err.byteOffset, `case ${i}`).toBeLessThanOrEqual(input.length);
        expect(err.packetsRead, `case ${i}`).toBeGreaterThanOrEqual(0);
        expect(err.message).toMatch(/^bad capture input at byte offset \d+ \(after \d+ packets?\): /);
        outcomes.errors++;
      }
      // A hang would show up as one slow case long before the test timeout.
      expect(Date.now() - caseStart, `case ${i} took too long`).toBeLessThan(5_000);
    }
    // Both paths must be exercised, or the mutations are not testing anything.
    expect(outcomes.reports).toBeGreaterThan(CASES / 20);
    expect(outcomes.errors).toBeGreaterThan(CASES / 20);
    console.log(`fuzz: ${CASES} cases in ${Date.now() - started} ms: ${outcomes.reports} reports, ${outcomes.errors} format errors`);
  });

  it('cut anywhere after the file header: exactly the complete packets before the cut are reported, and the cut is said', async () => {
    const rand = mulberry32(SEED + 1);
    for (const [k, base] of bases.entries()) {
      const pcapng = base.readUInt32LE(0) === 0x0a0d0d0a;
      const header = pcapng ? base.readUInt32LE(4) : 24;
      for (let n = 0; n < 150; n++) {
        const length = header + Math.floor(rand() * (base.length - header + 1));
        const input = base.subarray(0, length);
        const { complete, cut } = recordsIn(base, length);
        const what = `base ${k}, cut at ${length} of ${base.length}`;
        const r = await analyzeStream(inChunks(input, [input.length + 1, 4096, 333, 64][n % 4]), { scope: 'all' });
        checkReport(r, input, what);
        expect(r.packets, what).toBe(complete);
        expect(r.incomplete !== null, what).toBe(cut);
      }
    }
  });
});
