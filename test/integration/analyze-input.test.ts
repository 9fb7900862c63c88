// The inputs users really have, through the real CLI (node bin/idleprobe.mjs as a child process):
// a capture cut short (a writer killed, a file still being written), `--max-packets` at exactly the
// packets there are, Ctrl-C/SIGTERM on `tcpdump -w - | idleprobe analyze -`, a reader that closes
// the pipe (`| head -1`), a directory, gzip-compressed captures (and other compressions), and a
// pcapng that describes interfaces without end.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import type { AnalysisReport } from '../../src/capture/index.ts';
import { MAX_PCAPNG_INTERFACES } from '../../src/capture/limits.ts';
import { BIN, idleprobe, show } from './cli-harness.ts';
import { fixture, fixturePath, synFloodPcap } from '../fixtures/captures/synth.ts';

const dir = mkdtempSync(join(tmpdir(), 'ipcap-input-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const f = (name: string) => join(dir, name);

const pcap = fixture('client-eth.pcap');
/** Offsets of the records of the classic fixture (24-byte header, 16-byte record headers). */
const records: number[] = [];
for (let at = 24; at < pcap.length; at += 16 + pcap.readUInt32LE(at + 8)) records.push(at);

const json = (stdout: string) => JSON.parse(stdout) as AnalysisReport;

describe('a capture cut short is reported up to the cut (exit 5), not refused', () => {
  it('cut inside a record (tcpdump killed -9 mid-write): the 47 packets before it, a warning naming the offset, `incomplete` in --json', async () => {
    const file = f('killed.pcap');
    writeFileSync(file, pcap.subarray(0, records[47] + 16 + 7));
    const [text, doc] = await Promise.all([idleprobe(['analyze', file, '--port', '0']), idleprobe(['analyze', file, '--port', '0', '--json'])]);
    expect(text.code, show(text)).toBe(5);
    expect(text.stdout).toMatch(/47 packets/);
    expect(text.stdout).toMatch(new RegExp(`the capture was cut short at byte offset ${records[47]}: record is truncated: 7 of \\d+ captured bytes present — this report covers the 47 packets read`));
    expect(text.stderr).toMatch(new RegExp(`^idleprobe: warning: capture was cut short at byte offset ${records[47]} \\(after 47 packets\\): record is truncated`));
    expect(doc.code, show(doc)).toBe(5);
    const r = json(doc.stdout);
    expect(r.packets).toBe(47);
    expect(r.incomplete).toEqual({ cause: 'cut_short', byteOffset: records[47], detail: expect.stringMatching(/^record is truncated: 7 of \d+ captured bytes present$/) });
    expect(r.flows.length).toBeGreaterThan(0);
  });

  it('--max-packets N with exactly N complete packets before the cut: a normal report, exit 0', async () => {
    const file = f('cut-after-10.pcap');
    writeFileSync(file, pcap.subarray(0, records[10] + 5));
    const r = await idleprobe(['analyze', file, '--port', '0', '--json', '--max-packets', '10']);
    expect(r.code, show(r)).toBe(0);
    expect(r.stderr).toBe('');
    expect(json(r.stdout)).toMatchObject({ packets: 10, truncatedAtMaxPackets: true, incomplete: null });
    // A whole file of exactly N packets with --max-packets N was not stopped by the limit.
    const whole = f('exactly-10.pcap');
    writeFileSync(whole, pcap.subarray(0, records[10]));
    const w = await idleprobe(['analyze', whole, '--port', '0', '--json', '--max-packets', '10']);
    expect(w.code, show(w)).toBe(0);
    expect(json(w.stdout)).toMatchObject({ packets: 10, truncatedAtMaxPackets: false, incomplete: null });
  });
});

/** `idleprobe analyze -` with stdin a pipe the test writes to, as `tcpdump -w - |` would. */
function analyzeStdin(args: string[]) {
  const child = spawn(process.execPath, [BIN, 'analyze', '-', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  return { child, exited };
}

/**
 * Writes `bytes` to the child's stdin and resolves once they are in the pipe. Larger than the pipe
 * (64 KiB), that means idleprobe has read most of them: it is reading, its signal handlers are in.
 */
function written(child: ReturnType<typeof analyzeStdin>['child'], bytes: Buffer): Promise<void> {
  return new Promise((resolve, reject) => child.stdin.write(bytes, (err) => (err ? reject(err) : resolve())));
}

// A capture far larger than a pipe: 15,000 one-packet connections, 70-byte records after a 24-byte header.
const flood = synFloodPcap(15_000);
const RECORD = 70;

describe('Ctrl-C / SIGTERM on `tcpdump -w - | idleprobe analyze -`: the report of what was read, exit 5', () => {
  it('SIGINT: what the writer flushes after the signal is still read; the report covers every packet', async () => {
    const { child, exited } = analyzeStdin(['--port', '0', '--json', '--max-flows', '1']);
    await written(child, flood.subarray(0, 24 + 8000 * RECORD));
    child.kill('SIGINT');
    // tcpdump, stopped by the same Ctrl-C, writes out its buffer and exits.
    child.stdin.end(flood.subarray(24 + 8000 * RECORD));
    const r = await exited;
    expect(r.code, show(r)).toBe(5);
    const doc = json(r.stdout);
    expect(doc.packets).toBe(15_000);
    expect(doc.incomplete).toEqual({ cause: 'interrupted', byteOffset: flood.length, detail: 'asked to stop; read until the writer closed the input' });
    expect(r.stderr).toBe(
      `idleprobe: warning: capture reading was interrupted at byte offset ${flood.length} (after 15000 packets): asked to stop; read until the writer closed the input — the report covers the 15000 packets read\n`,
    );
  });

  it('SIGTERM while the writer keeps the pipe open: the report of what arrived, once the drain time is over', async () => {
    const { child, exited } = analyzeStdin(['--port', '0', '--max-flows', '1']);
    // Half a record at the end: reading stops inside it.
    await written(child, flood.subarray(0, 24 + 9000 * RECORD + 30));
    child.kill('SIGTERM');
    const r = await exited;
    child.stdin.destroy();
    expect(r.code, show(r)).toBe(5);
    expect(r.stdout).toMatch(/^stdin: pcap \(ETHERNET\), 9000 packets, 9000 connections/);
    expect(r.stdout).toContain(`reading was interrupted at byte offset ${24 + 9000 * RECORD}: record is truncated: 14 of 54 captured bytes present — this report covers the 9000 packets read`);
    expect(r.stderr).toMatch(/^idleprobe: warning: capture reading was interrupted at byte offset \d+ \(after 9000 packets\)/);
  });
});

describe('a closed stdout (`| head -1`) ends the command quietly: exit 0, no EPIPE', () => {
  // Through a real shell pipeline: PIPESTATUS[0] is idleprobe's exit code, its stderr goes to a file.
  const pipeline = (args: string, input?: string) => {
    const err = f(`stderr-${Math.random().toString(36).slice(2)}`);
    const r = spawnSync('bash', ['-c', `node "$1" ${args} 2>"$2" ${input ? '<"$3"' : ''} | head -1 >/dev/null; echo "\${PIPESTATUS[0]}"`, 'sh', BIN, err, input ?? ''], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    return { code: Number(r.stdout.trim()), stderr: readFileSync(err, 'utf8') };
  };
  const floodFile = f('flood.pcap');
  writeFileSync(floodFile, synFloodPcap(3000));

  it('analyze --json | head -1 (a report far larger than the pipe buffer)', () => {
    const r = pipeline(`analyze "${floodFile}" --port 0 --json --max-flows 3000`);
    expect(r).toEqual({ code: 0, stderr: '' });
  });

  it('every command: its output to a reader that already left (`| true`)', () => {
    const gone = (args: string) => {
      const err = f(`stderr-${Math.random().toString(36).slice(2)}`);
      const r = spawnSync('bash', ['-c', `node "$1" ${args} 2>"$2" | true; echo "\${PIPESTATUS[0]}"`, 'sh', BIN, err], { encoding: 'utf8', timeout: 120_000 });
      return { code: Number(r.stdout.trim()), stderr: readFileSync(err, 'utf8') };
    };
    expect(gone('advise --timeout 60')).toEqual({ code: 0, stderr: '' });
    expect(gone('--help')).toEqual({ code: 0, stderr: '' });
    expect(gone(`analyze "${fixturePath('client-eth.pcap')}"`)).toEqual({ code: 0, stderr: '' });
  });

  it('watch --read --json | head -1, and the text lines', () => {
    expect(pipeline(`watch --read "${floodFile}" --port 0 --json`)).toEqual({ code: 0, stderr: '' });
    expect(pipeline(`watch --read - --port 0`, floodFile)).toEqual({ code: 0, stderr: '' });
  });
});

describe('not a capture file: a directory, other compressions, broken gzip', () => {
  it('a directory is a usage error (exit 2) naming it, for analyze and watch --read', async () => {
    for (const args of [['analyze', dir], ['watch', '--read', dir]]) {
      const r = await idleprobe(args);
      expect(r.code, show(r)).toBe(2);
      expect(r.stderr).toBe(`idleprobe: cannot read capture "${dir}": is a directory, not a capture file\n`);
    }
  });

  it('zstd, xz and bzip2 are named, with what to do (exit 4)', async () => {
    for (const [name, magic, tool] of [
      ['zstd', [0x28, 0xb5, 0x2f, 0xfd], 'zstd -d'],
      ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], 'xz -d'],
      ['bzip2', [0x42, 0x5a, 0x68, 0x39], 'bunzip2'],
    ] as const) {
      const file = f(`c.${name}`);
      writeFileSync(file, Buffer.concat([Buffer.from(magic), Buffer.alloc(64, 1)]));
      const r = await idleprobe(['analyze', file]);
      expect(r.code, show(r)).toBe(4);
      expect(r.stderr).toContain(`${name}-compressed data, not a capture: decompress it first (${tool})`);
    }
  });
});

describe('gzip-compressed captures are read as they are', () => {
  const gz = f('client.pcap.gz');
  writeFileSync(gz, gzipSync(pcap));

  it('analyze and watch --read give what they give for the plain file (file and stdin)', async () => {
    const [plain, zipped, fromStdin, livePlain, liveZipped] = await Promise.all([
      idleprobe(['analyze', fixturePath('client-eth.pcap'), '--json']),
      idleprobe(['analyze', gz, '--json']),
      new Promise<string>((resolve) => {
        const child = spawn(process.execPath, [BIN, 'analyze', '-', '--json'], { stdio: ['pipe', 'pipe', 'inherit'] });
        let out = '';
        child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
        child.on('close', () => resolve(out));
        child.stdin.end(readFileSync(gz));
      }),
      idleprobe(['watch', '--read', fixturePath('client-eth.pcap'), '--json']),
      idleprobe(['watch', '--read', gz, '--json']),
    ]);
    expect(zipped.code, show(zipped)).toBe(0);
    expect(json(zipped.stdout)).toEqual(json(plain.stdout));
    expect(JSON.parse(fromStdin)).toEqual(json(plain.stdout));
    const events = (out: string) => out.trim().split('\n').filter((l) => !l.includes('"replay_started"'));
    expect(liveZipped.code, show(liveZipped)).toBe(0);
    expect(events(liveZipped.stdout)).toEqual(events(livePlain.stdout));
  });

  it('a gzip stream cut off is a capture cut short (exit 5, report up to there); corrupt gzip data is exit 4 naming gzip', async () => {
    const zipped = readFileSync(gz);
    const cut = f('cut.pcap.gz');
    writeFileSync(cut, zipped.subarray(0, Math.floor(zipped.length / 2)));
    const r = await idleprobe(['analyze', cut, '--port', '0', '--json']);
    expect(r.code, show(r)).toBe(5);
    const doc = json(r.stdout);
    expect(doc.packets).toBeGreaterThan(20);
    expect(doc.packets).toBeLessThan(records.length);
    expect(doc.incomplete).toMatchObject({ cause: 'cut_short', detail: expect.stringMatching(/^the gzip stream ends early after \d+ compressed bytes/) });
    // A wrong CRC: every byte decompresses, the check at the end fails.
    const corrupt = Buffer.from(zipped);
    corrupt[corrupt.length - 6] = corrupt[corrupt.length - 6] ^ 0xff;
    const bad = f('corrupt.pcap.gz');
    writeFileSync(bad, corrupt);
    const e = await idleprobe(['analyze', bad]);
    expect(e.code, show(e)).toBe(4);
    expect(e.stdout).toBe('');
    expect(e.stderr).toMatch(new RegExp(`^idleprobe: bad capture input at byte offset \\d+ \\(after \\d+ packets\\): gzip data is corrupt after ${zipped.length} compressed bytes: incorrect data check\n$`));
  });

  it('a decompression bomb is refused (exit 4), memory and time bounded', async () => {
    // A valid pcap header, then 20 MB of zeros: a ~20 kB gzip that would expand ~1000×.
    const header = pcap.subarray(0, 24);
    const bomb = f('bomb.pcap.gz');
    writeFileSync(bomb, gzipSync(Buffer.concat([header, Buffer.alloc(20 << 20)]), { level: 9 }));
    const r = await idleprobe(['analyze', bomb]);
    expect(r.code, show(r)).toBe(4);
    expect(r.stderr).toMatch(/gzip data expands more than 64× .*refused as a decompression bomb/);
  });
});

/** A pcapng section header block (little-endian, version 1.0, no options). */
function shb(): Buffer {
  const b = Buffer.alloc(28);
  b.writeUInt32LE(0x0a0d0d0a, 0);
  b.writeUInt32LE(28, 4);
  b.writeUInt32LE(0x1a2b3c4d, 8);
  b.writeUInt16LE(1, 12);
  b.writeUInt16LE(0, 14);
  b.writeBigInt64LE(-1n, 16);
  b.writeUInt32LE(28, 24);
  return b;
}

/** `n` empty 20-byte interface description blocks (Ethernet). */
function idbs(n: number): Buffer {
  const one = Buffer.alloc(20);
  one.writeUInt32LE(1, 0);
  one.writeUInt32LE(20, 4);
  one.writeUInt16LE(1, 8);
  one.writeUInt32LE(262144, 12);
  one.writeUInt32LE(20, 16);
  const out = Buffer.alloc(20 * n);
  for (let i = 0; i < n; i++) one.copy(out, 20 * i);
  return out;
}

describe('a pcapng of empty interface blocks: the interface table is bounded', () => {
  it(`beyond ${MAX_PCAPNG_INTERFACES} interfaces in one section: exit 4 naming the limit and the byte offset`, async () => {
    const file = f('idbs.pcapng');
    writeFileSync(file, Buffer.concat([shb(), idbs(MAX_PCAPNG_INTERFACES + 5)]));
    const r = await idleprobe(['analyze', file]);
    expect(r.code, show(r)).toBe(4);
    const offset = 28 + 20 * MAX_PCAPNG_INTERFACES;
    expect(r.stderr).toBe(
      `idleprobe: bad capture input at byte offset ${offset} (after 0 packets): more than ${MAX_PCAPNG_INTERFACES} interface descriptions in one section (the limit) (block type 0x1)\n`,
    );
  });

  it('the limit is per section: each new section starts a new table', async () => {
    const file = f('sections.pcapng');
    const half = idbs(MAX_PCAPNG_INTERFACES / 2 + 1);
    writeFileSync(file, Buffer.concat([shb(), half, shb(), half, shb(), half]));
    const r = await idleprobe(['analyze', file, '--json']);
    expect(r.code, show(r)).toBe(0);
    expect(json(r.stdout)).toMatchObject({ format: 'pcapng', packets: 0, linkTypes: ['ETHERNET'] });
  });
});
