// The counters a passive job will export, folded from the live analysis of a real lab capture; the
// `server` label is the configured endpoint or `other`, never a client.
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { liveAnalysis, readCapture } from '../../src/capture/index.ts';
import type { ConnectionEvent } from '../../src/capture/events.ts';
import { DEATH_AGE_BUCKETS, OTHER_SERVER, PassiveCounters, normaliseEndpoint } from '../../src/capture/passive-counters.ts';
import { fixture } from '../fixtures/captures/synth.ts';

async function eventsOf(name: string): Promise<ConnectionEvent[]> {
  const events: ConnectionEvent[] = [];
  const tracker = liveAnalysis({ scope: 'ssh', onEvent: (e) => events.push(e), heartbeatEvents: true });
  await readCapture(Readable.from([fixture(name)]), tracker.store, { maxPackets: Infinity });
  tracker.end();
  return events;
}

describe('passive counters', () => {
  it('client-eth.pcap: per configured server and "other", by end, heartbeats, deaths, bracket', async () => {
    const counters = new PassiveCounters(['198.19.9.2:22']);
    for (const e of await eventsOf('client-eth.pcap')) counters.add(e);
    const snap = counters.snapshot();
    expect([...snap.keys()]).toEqual(['198.19.9.2:22', OTHER_SERVER]);
    const ssh = snap.get('198.19.9.2:22')!;
    // 2 closed with FIN (ServerAliveInterval=2, a short session), 2 died (ServerAliveInterval=8 variants).
    expect(ssh.connections).toEqual({ fin: 2, rst: 0, retransmissions_then_silence: 2, silence: 0, closed_idle: 0, forgotten: 0 });
    expect(ssh.heartbeatsAnswered).toBe(5);
    // Unanswered: the ServerAliveInterval=8 session's heartbeat. The last words of the heartbeat-less
    // `sleep 9; echo lost` session (ssh, killed by `timeout`, sends 60 B and its FIN at once) are no
    // heartbeat: that session and the short `echo quick` one are the two without heartbeat.
    expect(ssh.heartbeatsUnanswered).toBe(1);
    expect(ssh.sessionsWithoutHeartbeat).toBe(2);
    expect(ssh.deathAge.count).toBe(2);
    expect(ssh.deathAge.sum).toBeCloseTo(7.6 + 15.394, 2);
    expect(ssh.deathAge.buckets[DEATH_AGE_BUCKETS.indexOf(5)]).toBe(0);
    expect(ssh.deathAge.buckets[DEATH_AGE_BUCKETS.indexOf(10)]).toBe(1);
    expect(ssh.deathAge.buckets[DEATH_AGE_BUCKETS.indexOf(30)]).toBe(2);
    expect(ssh.lowerBoundSeconds).toBe(2);
    expect(ssh.upperBoundSeconds).toBe(7.6);
    // The 2022 server was not configured: it counts under "other" (reset by the middlebox).
    const other = snap.get(OTHER_SERVER)!;
    expect(other.connections.rst).toBe(1);
    expect(other.upperBoundSeconds).toBe(7.7);
    // No label value is ever a client address.
    expect([...snap.keys()].some((k) => k.startsWith('198.18.'))).toBe(false);
  });

  it('endpoints match however they are written; unknown ones are "other"', () => {
    const c = new PassiveCounters(['[2001:DB8::1]:2222', 'bastion-ip:22']);
    expect(c.serverLabel('[2001:db8::1]:2222')).toBe('[2001:DB8::1]:2222');
    expect(c.serverLabel('203.0.113.9:22')).toBe(OTHER_SERVER);
    expect(normaliseEndpoint(' 198.19.1.2:022 ')).toBe('198.19.1.2:22');
    expect(c.serverLabel('BASTION-IP:22')).toBe('bastion-ip:22');
  });
});
