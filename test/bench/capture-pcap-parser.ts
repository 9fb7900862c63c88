// Measures pcap-parser 0.2.1 (the library named in the design card) against the project's reader
// on the cases issue 4 lists: formats, a truncated last record, a corrupt 0x7fffffff record length
// (run in a subprocess bounded by a timeout, with its resident memory sampled), back-pressure.
// Throughput is measured by capture.bench.ts. Prints one line per case.
//
//   node --import tsx test/bench/capture-pcap-parser.ts [--timeout-seconds 20]
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { analyzeStream, CaptureFormatError } from '../../src/capture/index.ts';
import { fixturePath } from '../fixtures/captures/synth.ts';

interface ParserOutcome {
  packets: number;
  ended: boolean;
  error: string | null;
  rssMB: number;
  timedOut: boolean;
  seconds: number;
}

/** Child: run pcap-parser on a file, report progress and RSS on stdout as JSON lines. */
async function childMain(file: string): Promise<void> {
  const require = createRequire(import.meta.url);
  const parser = (require('pcap-parser') as { parse(f: string): import('node:events').EventEmitter }).parse(file);
  let packets = 0;
  let error: string | null = null;
  const report = (ended: boolean) => process.stdout.write(`${JSON.stringify({ packets, ended, error, rssMB: process.memoryUsage().rss / 1e6 })}\n`);
  const timer = setInterval(() => report(false), 250);
  parser.on('packet', () => void packets++);
  parser.on('error', (e: Error) => void (error = e.message));
  await new Promise<void>((resolve) => parser.on('end', resolve));
  clearInterval(timer);
  report(true);
}

function runParser(file: string, timeoutSeconds: number): Promise<ParserOutcome> {
  const self = fileURLToPath(import.meta.url);
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, ['--import', 'tsx', self, '--child', file], { stdio: ['ignore', 'pipe', 'ignore'] });
    let last: Omit<ParserOutcome, 'timedOut' | 'seconds'> = { packets: 0, ended: false, error: null, rssMB: 0 };
    let maxRss = 0;
    let buf = '';
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const l of lines) {
        last = JSON.parse(l);
        maxRss = Math.max(maxRss, last.rssMB);
      }
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutSeconds * 1000);
    child.on('exit', () => {
      clearTimeout(timer);
      resolve({ ...last, rssMB: maxRss, timedOut: !last.ended, seconds: (Date.now() - started) / 1000 });
    });
  });
}

async function ours(bytes: Buffer): Promise<string> {
  const started = Date.now();
  try {
    const r = await analyzeStream(Readable.from([bytes]), { scope: 'all' });
    const cut = r.incomplete === null ? '' : `, reported as cut short at byte ${r.incomplete.byteOffset}: ${r.incomplete.detail}`;
    return `${r.packets} packets (${Date.now() - started} ms)${cut}`;
  } catch (err) {
    if (err instanceof CaptureFormatError) return `error after ${Date.now() - started} ms: ${err.message}`;
    throw err;
  }
}

function describeParser(o: ParserOutcome): string {
  if (o.timedOut) return `still running after ${o.seconds.toFixed(0)} s with ${o.packets} packets, ${o.rssMB.toFixed(0)} MB resident (killed)`;
  return `${o.packets} packets, ${o.error ? `error "${o.error}"` : 'no error'}, ended in ${o.seconds.toFixed(1)} s`;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === '--child') return childMain(args[1]);
  const ti = args.indexOf('--timeout-seconds');
  const timeoutSeconds = ti >= 0 ? Number(args[ti + 1]) : 20;
  const dir = mkdtempSync(join(tmpdir(), 'ipcap-pp-'));
  try {
    const eth = readFileSync(fixturePath('client-eth.pcap'));
    const cases: [string, Buffer][] = [
      ['classic µs pcap (client-eth.pcap)', eth],
      ['nanosecond pcap (mbox-any-sll2-nano.pcap)', readFileSync(fixturePath('mbox-any-sll2-nano.pcap'))],
      ['pcapng (mbox-multi.pcapng)', readFileSync(fixturePath('mbox-multi.pcapng'))],
      ['last record truncated by 5 bytes', eth.subarray(0, eth.length - 5)],
    ];
    // ~100 MB: the records of the fixture repeated, with record 3's length set to 0x7fffffff.
    const records = eth.subarray(24);
    const big = Buffer.concat([eth.subarray(0, 24), ...Array.from({ length: Math.ceil(100e6 / records.length) }, () => records)]);
    let at = 24;
    for (let i = 0; i < 2; i++) at += 16 + big.readUInt32LE(at + 8);
    big.writeUInt32LE(0x7fffffff, at + 8);
    cases.push([`record length 0x7fffffff at record 3 of a ${(big.length / 1e6).toFixed(0)} MB file`, big]);

    for (const [name, bytes] of cases) {
      const file = join(dir, 'case.pcap');
      writeFileSync(file, bytes);
      const theirs = await runParser(file, timeoutSeconds);
      console.log(`${name}:\n  pcap-parser: ${describeParser(theirs)}\n  idleprobe:   ${await ours(bytes)}`);
    }
    console.log('back-pressure: pcap-parser consumes "data" events and never pauses the stream (read from lib/pcap-parser.js); idleprobe pulls the next chunk only after analysing the current one.');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
