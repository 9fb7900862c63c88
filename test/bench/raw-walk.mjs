// The baseline of startup.bench.ts: a whole Node process that walks a pcap's records (read each
// 16-byte header, skip the bytes) and prints the packet count. Plain JavaScript, no loader.
//   node test/bench/raw-walk.mjs FILE
import { createReadStream } from 'node:fs';

let packets = 0;
let rest = null;
let first = true;
for await (const chunk of createReadStream(process.argv[2], { highWaterMark: 1 << 20 })) {
  const buf = rest && rest.length ? Buffer.concat([rest, chunk]) : chunk;
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
process.stdout.write(`${packets}\n`);
