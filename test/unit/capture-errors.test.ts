// Bad input: every kind of broken capture ends in a CaptureFormatError that names the byte offset
// and the packets read before it (exit code 4 in the CLI) — quickly, never a hang or a crash. A
// capture merely cut short (it ends inside a record or block) is no error: what was read is
// reported, and the report says where it stopped (exit code 5 in the CLI).
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { analyzeStream, CaptureFormatError, type AnalysisReport } from '../../src/capture/index.ts';
import { exitCodeFor } from '../../src/cli/errors.ts';
import { fixture, fixturePath } from '../fixtures/captures/synth.ts';

async function failure(bytes: Buffer): Promise<CaptureFormatError> {
  try {
    await analyzeStream(Readable.from([bytes]), { scope: 'all' });
  } catch (err) {
    expect(err).toBeInstanceOf(CaptureFormatError);
    return err as CaptureFormatError;
  }
  throw new Error('expected the capture to be rejected');
}

/** The report of a capture cut short: every packet before the cut, and where it was cut. */
async function cutShort(bytes: Buffer): Promise<AnalysisReport> {
  const r = await analyzeStream(Readable.from([bytes]), { scope: 'all' });
  expect(r.incomplete).not.toBeNull();
  expect(r.incomplete!.cause).toBe('cut_short');
  return r;
}

const pcap = fixture('client-eth.pcap');
const pcapng = fixture('mbox-multi.pcapng');
/** Offsets of the first records of the classic fixture (24-byte header, 16-byte record headers). */
const recordOffsets: number[] = [];
for (let at = 24; at < pcap.length && recordOffsets.length < 5; at += 16 + pcap.readUInt32LE(at + 8)) recordOffsets.push(at);

describe('classic pcap', () => {
  it('zero-length input', async () => {
    const e = await failure(Buffer.alloc(0));
    expect(e.message).toMatch(/byte offset 0 \(after 0 packets\).*empty input/);
    expect(exitCodeFor(e)).toBe(4); // bad_input: mapped to its exit code by the CLI
  });

  it('wrong magic / garbage', async () => {
    const e = await failure(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    expect(e.message).toMatch(/unknown file magic 0x47455420/);
    expect(e.byteOffset).toBe(0);
  });

  it('truncated file header', async () => {
    const e = await failure(pcap.subarray(0, 10));
    expect(e.message).toMatch(/pcap file header is truncated: 10 of 24 bytes/);
  });

  it('cut inside the record header after three packets: the three are reported, with where it stopped', async () => {
    const r = await cutShort(pcap.subarray(0, recordOffsets[3] + 9));
    expect(r.packets).toBe(3);
    expect(r.incomplete).toEqual({ cause: 'cut_short', byteOffset: recordOffsets[3], detail: 'record header is truncated: 9 of 16 bytes' });
  });

  it('truncated last record (not silently dropped: the report says so)', async () => {
    const r = await cutShort(pcap.subarray(0, pcap.length - 5));
    expect(r.packets).toBe(250);
    expect(r.incomplete!.detail).toMatch(/^record is truncated: \d+ of \d+ captured bytes present$/);
    // Everything before the cut is analysed as in the whole file.
    const whole = await analyzeStream(Readable.from([pcap]), { scope: 'all' });
    expect(r.flowCount).toBe(whole.flowCount);
    expect(whole.incomplete).toBeNull();
  });

  it('impossible record length 0x7fffffff fails at once, naming the length field', async () => {
    const bad = Buffer.from(pcap);
    bad.writeUInt32LE(0x7fffffff, recordOffsets[2] + 8);
    const started = Date.now();
    const e = await failure(bad);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(e.byteOffset).toBe(recordOffsets[2] + 8);
    expect(e.packetsRead).toBe(2);
    expect(e.message).toMatch(/record length 2147483647 exceeds the maximum/);
  });

  it('unsupported version', async () => {
    const bad = Buffer.from(pcap);
    bad.writeUInt16LE(7, 4);
    expect((await failure(bad)).message).toMatch(/unsupported pcap version 7/);
  });
});

describe('pcapng', () => {
  // Block offsets: SHB first, then IDBs and packets.
  const blocks: number[] = [];
  for (let at = 0; at < pcapng.length && blocks.length < 8; at += pcapng.readUInt32LE(at + 4)) blocks.push(at);

  it('must start with a section header', async () => {
    const e = await failure(Buffer.concat([pcapng.subarray(blocks[1], blocks[2]), pcapng]));
    expect(e.message).toMatch(/unknown file magic/);
  });

  it('block length not a multiple of 4', async () => {
    const bad = Buffer.from(pcapng);
    bad.writeUInt32LE(bad.readUInt32LE(blocks[3] + 4) + 2, blocks[3] + 4);
    const e = await failure(bad);
    expect(e.byteOffset).toBe(blocks[3] + 4);
    expect(e.message).toMatch(/impossible block length/);
  });

  it('trailing length copy mismatch', async () => {
    const bad = Buffer.from(pcapng);
    const len = bad.readUInt32LE(blocks[4] + 4);
    bad.writeUInt32LE(len + 4, blocks[4] + len - 4);
    const e = await failure(bad);
    expect(e.message).toMatch(/does not match its trailing copy/);
  });

  it('huge block length fails at once instead of buffering', async () => {
    const bad = Buffer.from(pcapng);
    bad.writeUInt32LE(0x7ffffffc, blocks[4] + 4);
    const e = await failure(bad);
    expect(e.message).toMatch(/impossible block length 2147483644/);
  });

  it('packet on an undescribed interface', async () => {
    const bad = Buffer.from(pcapng);
    // Find the first EPB and point it at interface 9.
    let at = 0;
    while (bad.readUInt32LE(at) !== 6) at += bad.readUInt32LE(at + 4);
    bad.writeUInt32LE(9, at + 8);
    const e = await failure(bad);
    expect(e.message).toMatch(/interface 9, but only 2 described/);
    expect(e.byteOffset).toBe(at + 8);
  });

  it('truncated in the middle of a block: reported up to there', async () => {
    const r = await cutShort(pcapng.subarray(0, pcapng.length - 30));
    expect(r.incomplete!.detail).toMatch(/block is truncated/);
    expect(r.packets).toBeGreaterThan(700);
  });

  it('cut inside the section header: nothing usable, an error', async () => {
    const e = await failure(pcapng.subarray(0, 20));
    expect(e.message).toMatch(/block is truncated: 20 of \d+ bytes/);
  });
});

describe('idleprobe analyze (CLI)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ipcap-cli-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const run = (args: string[], stdin?: Buffer) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      const child = execFile('node', ['bin/idleprobe.mjs', 'analyze', ...args], { timeout: 30_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      });
      if (stdin) child.stdin!.end(stdin);
    });

  it('--json has the documented fields', async () => {
    const { code, stdout } = await run([fixturePath('client-eth.pcap'), '--port', '0', '--json']);
    expect(code).toBe(0);
    const r = JSON.parse(stdout);
    for (const k of ['format', 'linkTypes', 'packets', 'tcpKeepalives', 'tcpKeepaliveAcks', 'flows', 'idleTimeoutBracket']) expect(r).toHaveProperty(k);
    for (const k of ['client', 'server', 'tcpKeepalives', 'tcpKeepaliveAcks', 'heartbeats', 'heartbeatsAnswered', 'heartbeatIntervalSeconds', 'unanswered', 'maxIdleSurvivedSeconds', 'diedAfterIdleSeconds', 'end', 'verdict']) {
      expect(r.flows[0]).toHaveProperty(k);
    }
  });

  it('reads stdin with "-" and prints a table with verdicts; SSH by banner on any port is the default, --port 22 takes a port', async () => {
    const { code, stdout } = await run(['-'], fixture('client-eth.pcap'));
    expect(code).toBe(0);
    // OpenSSH on 22 and 2022 (banner), not the plain TCP keepalive sockets on 2222.
    expect(stdout).toMatch(/stdin: pcap \(ETHERNET\), 251 packets, 5 connections \(SSH, by banner; 2 other TCP connections left out\)/);
    expect(stdout).toMatch(/198\.19\.9\.2:2022 .* rst/);
    expect(stdout).not.toMatch(/:2222 /);
    const byPort = await run(['-', '--port', '22'], fixture('client-eth.pcap'));
    expect(byPort.stdout).toMatch(/stdin: pcap \(ETHERNET\), 251 packets, 4 connections on port 22/);
    expect(stdout).toMatch(/CLIENT\s+SERVER\s+PKTS/);
    expect(stdout).toMatch(/healthy: client heartbeats \(like ServerAliveInterval\) every 2 s answered/);
  });

  it('exit 4 with offset and packet count on a broken capture', async () => {
    const file = join(dir, 'broken.pcap');
    const bad = Buffer.from(pcap);
    bad.writeUInt32LE(0x7fffffff, recordOffsets[3] + 8);
    writeFileSync(file, bad);
    const { code, stdout, stderr } = await run([file]);
    expect(code).toBe(4);
    expect(stdout).toBe('');
    expect(stderr).toMatch(new RegExp(`bad capture input at byte offset ${recordOffsets[3] + 8} \\(after 3 packets\\)`));
  });

  it('exit 4 on an empty stdin, exit 2 on a missing file or a bad port', async () => {
    expect((await run(['-'], Buffer.alloc(0))).code).toBe(4);
    const missing = await run([join(dir, 'nope.pcap')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/no such file/);
    expect((await run([fixturePath('client-eth.pcap'), '--port', 'ssh'])).code).toBe(2);
  });
});
