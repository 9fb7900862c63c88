// The pure pieces of `watch`: banner recognition, the death-reporting delay, tcpdump's argv and
// how its start-up complaints are turned into exit codes.
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { liveAnalysis, readCapture } from '../../src/capture/index.ts';
import { startsWithSshBanner } from '../../src/capture/connection-scope.ts';
import { deathConfirmSeconds } from '../../src/capture/events.ts';
import { WatchStats } from '../../src/capture/watch-stats.ts';
import { formatWatchScreen } from '../../src/capture/watch-table.ts';
import { Conversation, asFrames, writePcap } from '../fixtures/captures/synth.ts';
import { LIVE_SNAPLEN, classifyTcpdumpFailure, tcpdumpArgs } from '../../src/capture/tcpdump-source.ts';

describe('SSH banner', () => {
  const b = (s: string) => Buffer.from(s, 'latin1');
  it('SSH-2.0- and SSH-1.99- are SSH; other protocols, truncated or shifted bytes are not', () => {
    expect(startsWithSshBanner(b('SSH-2.0-OpenSSH_9.2p1\r\n'), 0, 23)).toBe(true);
    expect(startsWithSshBanner(b('xxSSH-2.0-dropbear\r\n'), 2, 18)).toBe(true);
    expect(startsWithSshBanner(b('SSH-1.99-Cisco-1.25\r\n'), 0, 21)).toBe(true);
    expect(startsWithSshBanner(b('SSH-1.5-old\r\n'), 0, 13)).toBe(false);
    expect(startsWithSshBanner(b('SSH-2.0-'), 0, 7)).toBe(false); // only 7 bytes captured
    expect(startsWithSshBanner(b('GET / HTTP/1.1\r\n'), 0, 16)).toBe(false);
    expect(startsWithSshBanner(b('\x16\x03\x01\x02\x00\x01\x00\x01'), 0, 8)).toBe(false);
  });
});

describe('when a death is reported', () => {
  it('one heartbeat interval after the first unanswered one (so within 2 × h), bounded to [2 answer windows, 30 s]', () => {
    expect(deathConfirmSeconds(12, 12.1, 0.3)).toBe(12);
    expect(deathConfirmSeconds(null, 11.1, 0.3)).toBe(11.1); // no period seen yet: the idle gap before it
    expect(deathConfirmSeconds(null, 345, 0.3)).toBe(30);
    expect(deathConfirmSeconds(1, 1, 3)).toBe(6);
  });
});

describe('the live table', () => {
  it('a connection closed idle by the far end is a death: its row and the latest deaths say who closed it, after how long idle, and how', async () => {
    const T0 = 1_790_000_000;
    const c = new Conversation('198.18.9.2', 50090, '198.19.9.2', 22).handshake(T0).banners(T0 + 0.05).login(T0 + 0.1).data(T0 + 1, false, 44).close(T0 + 7, false, 'fin+rst');
    const stats = new WatchStats();
    const tracker = liveAnalysis({ scope: 'ssh', onEvent: (e) => stats.add(e) });
    await readCapture(Readable.from([writePcap(asFrames(c.frames), 1)]), tracker.store, { maxPackets: Infinity });
    tracker.advance(T0 + 9);
    const screen = formatWatchScreen('watching', stats, tracker.liveConnections(), T0 + 9, c.frames.length);
    expect(screen).toMatch(/^connections 1 · died 1 \(closed_idle 1\) · closed fin 0, rst 0/m);
    expect(screen).toMatch(/198\.18\.9\.2:50090 +198\.19\.9\.2:22 +9s +none +- +0\/0 +0 +- +closed after 6s idle by the far end \(reset from the server side\)$/m);
    expect(screen).toMatch(/Latest deaths:\n {2}\d\d:\d\d:\d\d 198\.18\.9\.2:50090 → 198\.19\.9\.2:22: closed after 6s idle by the far end \(reset from the server side\); heartbeats 0\/0 answered/);
  });
});

describe('tcpdump child', () => {
  it('writes pcap to stdout per packet, no name lookups, a snap length that shows the banner', () => {
    expect(tcpdumpArgs({ interface: 'any', filter: 'tcp' })).toEqual(['-i', 'any', '-w', '-', '-U', '--immediate-mode', '-n', '-s', String(LIVE_SNAPLEN), 'tcp']);
    // SLL2 (20) + IPv6 (40) + TCP with every option (60) + "SSH-2.0-" fits.
    expect(LIVE_SNAPLEN).toBeGreaterThanOrEqual(20 + 40 + 60 + 8);
  });

  it('start-up complaints: permission → exit 3 naming CAP_NET_RAW; unknown interface and bad filter → exit 2', () => {
    const perm = classifyTcpdumpFailure("tcpdump: eth0: You don't have permission to perform this capture on that device\n(socket: Operation not permitted)\n", 'eth0', 1);
    expect(perm.exitCode).toBe(3);
    expect(perm.message).toMatch(/^cannot capture on "eth0": permission denied — capturing needs CAP_NET_RAW/);
    const dev = classifyTcpdumpFailure('tcpdump: nosuch0: No such device exists\n(No such device exists)\n', 'nosuch0', 1);
    expect(dev.exitCode).toBe(2);
    expect(dev.message).toMatch(/^no such interface "nosuch0"/);
    const bpf = classifyTcpdumpFailure("tcpdump: syntax error in filter expression: syntax error\n", 'any', 1);
    expect(bpf.exitCode).toBe(2);
    expect(bpf.message).toMatch(/rejected the capture filter/);
    expect(classifyTcpdumpFailure('idleprobe-tcpdump-pid 42\nsomething odd\n', 'any', 1).message).toBe('tcpdump exited with code 1 before capturing: something odd');
  });
});
