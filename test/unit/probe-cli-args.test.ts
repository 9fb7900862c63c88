// Flag parsing of `idleprobe measure` (pure parts) and the progress line rendering.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildMeasureOptions, buildTargetSpec, parseTargetArg, type MeasureFlags } from '../../src/cli/measure.ts';
import { formatDuration, renderProgress } from '../../src/cli/progress.ts';
import { parseDemoExec } from '../../src/demo/ssh-server.ts';
import type { Direction, SearchProgress } from '../../src/search/types.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'idleprobe-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const KEY_B64 = 'AAAAC3NzaC1lZDI1NTE5AAAAIP9Rne61saf7uy6WYFyGGOZUvj/FNvBF5aGqHQ8aDTS7';
const knownHosts = path.join(dir, 'known_hosts');
writeFileSync(knownHosts, `[198.18.0.9]:2222 ssh-ed25519 ${KEY_B64}\n`);
const identity = path.join(dir, 'id_test');
writeFileSync(identity, 'not parsed here\n');

const flags = (over: Partial<MeasureFlags> = {}): MeasureFlags => ({
  // Pure flag logic here; ssh_config resolution is tested through the CLI (measure-cli, ssh-config tests).
  direction: 'both', min: '5', max: '7440', sessions: '16', silentDeadlineFloor: '3s', inbound: true, identity, knownHosts, sshConfig: false, ...over,
});

describe('target argument', () => {
  it('parses [user@]host[:port] and [v6]:port', () => {
    expect(parseTargetArg('root@198.18.0.9:2222')).toEqual({ user: 'root', host: '198.18.0.9', port: 2222 });
    expect(parseTargetArg('example.net')).toEqual({ user: null, host: 'example.net', port: null });
    expect(parseTargetArg('u@[fd00::1]:22')).toEqual({ user: 'u', host: 'fd00::1', port: 22 });
  });
  it('an unbracketed address with several colons is IPv6 without a port, as ssh reads user@addr', () => {
    expect(parseTargetArg('ubuser@fd00:54::2')).toEqual({ user: 'ubuser', host: 'fd00:54::2', port: null });
    expect(parseTargetArg('::1')).toEqual({ user: null, host: '::1', port: null });
    expect(parseTargetArg('u@[fd00::1]')).toEqual({ user: 'u', host: 'fd00::1', port: null });
    // Not an IPv6 address and not host:port: the message says how to write a port with IPv6.
    expect(() => parseTargetArg('root@fd00:9:2::2::2222')).toThrow(/is not an IPv6 address, nor host:port; an IPv6 address with a port is written user@\[addr\]:port/);
    expect(() => parseTargetArg('root@host:22:33')).toThrow(/user@\[addr\]:port/);
    const spec = buildTargetSpec('u@[fd00::1]:2222', flags({ hostKey: [`SHA256:${'A'.repeat(43)}`], knownHosts: undefined }));
    expect(spec.name).toBe('u@[fd00::1]:2222');
    expect(spec.host).toBe('fd00::1');
  });
  it('rejects malformed targets as usage errors (exit 2)', () => {
    for (const bad of ['a@b@c', 'host:99999', '', 'host:', 'u@[fd00::1]:', 'u@fd00::1]']) {
      expect(() => parseTargetArg(bad), bad).toThrow(expect.objectContaining({ category: 'usage' }));
    }
    expect(() => parseTargetArg('host:99999')).toThrow(/port/);
  });
});

describe('measure flags', () => {
  it('host key sources: a pin or a readable known_hosts file; whether it lists the host is decided after connecting', () => {
    expect(buildTargetSpec('u@198.18.0.9:2222', flags()).knownHostsPath).toBe(knownHosts);
    // No entry for this host: not an error before connecting (ssh connects first, then verifies).
    expect(buildTargetSpec('u@198.18.0.9:22', flags()).knownHostsPath).toBe(knownHosts);
    expect(() => buildTargetSpec('u@198.18.0.9:2222', flags({ knownHosts: path.join(dir, 'missing') }))).toThrow(/--known-hosts: cannot read .*missing \(ENOENT\)/);
    expect(() => buildTargetSpec('u@h', flags({ hostKey: ['SHA256:nope'], knownHosts: undefined }))).toThrow(/--host-key/);
    expect(() => buildTargetSpec('u@h', flags({ hostKey: [`SHA256:${'A'.repeat(43)}`] }))).toThrow(/either --host-key or --known-hosts/);
    const pinned = buildTargetSpec('u@h', flags({ hostKey: [`SHA256:${'A'.repeat(43)}`], knownHosts: undefined }));
    expect(pinned.hostKeySha256).toEqual([`SHA256:${'A'.repeat(43)}`]);
    expect(pinned.name).toBe('u@h:22');
    expect(() => buildTargetSpec('u@h', flags({ identity: path.join(dir, 'no_key') }))).toThrow(/-i: cannot read .*no_key \(ENOENT\)/);
  });
  it('warns about malformed known_hosts lines instead of ignoring them', () => {
    const messy = path.join(dir, 'messy_known_hosts');
    writeFileSync(messy, `garbage\n[198.18.0.9]:2222 ssh-ed25519 ${KEY_B64}\n`);
    const warnings: string[] = [];
    buildTargetSpec('u@198.18.0.9:2222', flags({ knownHosts: messy }), (m) => warnings.push(m));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(`${messy}:1`);
  });
  it('directions and the inbound command', () => {
    const s = buildTargetSpec('u@198.18.0.9:2222', flags({ direction: 'outbound' }));
    expect(s.directions).toEqual(['outbound']);
    expect(s.inbound).toEqual({ method: 'signal' });
    expect(buildTargetSpec('u@198.18.0.9:2222', flags({ inbound: false })).inbound).toBeNull();
    expect(buildTargetSpec('u@198.18.0.9:2222', flags({ inboundMethod: 'sleep' })).inbound).toEqual({ method: 'sleep', command: 'sleep {d}; echo idleprobe' });
    expect(buildTargetSpec('u@198.18.0.9:2222', flags({ inboundCommand: 'sleep {d}; echo x' })).inbound).toEqual({ method: 'sleep', command: 'sleep {d}; echo x' });
    expect(() => buildTargetSpec('u@198.18.0.9:2222', flags({ inboundMethod: 'signal', inboundCommand: 'sleep {d}; echo x' }))).toThrow(/--inbound-method signal and --inbound-command contradict/);
    expect(() => buildTargetSpec('u@198.18.0.9:2222', flags({ inboundMethod: 'sleep', inbound: false }))).toThrow(/--inbound-method and --no-inbound/);
    expect(() => buildTargetSpec('u@198.18.0.9:2222', flags({ inboundMethod: 'carrier-pigeon' }))).toThrow(/--inbound-method must be signal or sleep/);
    expect(() => buildTargetSpec('u@198.18.0.9:2222', flags({ direction: 'sideways' }))).toThrow(/--direction/);
    expect(() => buildTargetSpec('u@198.18.0.9:2222', flags({ inboundCommand: 'sleep 5' }))).toThrow(/\{d\}/);
    expect(() => buildTargetSpec('u@198.18.0.9:2222', flags({ direction: 'inbound', inbound: false }))).toThrow(/--no-inbound/);
  });
  it('numbers are validated with the flag named', () => {
    expect(buildMeasureOptions(flags({ min: '2', max: '30', sessions: '4' }))).toMatchObject({ minSeconds: 2, maxSeconds: 30, sessions: 4 });
    expect(() => buildMeasureOptions(flags({ min: 'abc' }))).toThrow(/--min/);
    expect(() => buildMeasureOptions(flags({ min: '10', max: '5' }))).toThrow(/--max/);
    expect(() => buildMeasureOptions(flags({ sessions: '0' }))).toThrow(/--sessions/);
    expect(() => buildMeasureOptions(flags({ sessions: '2.5' }))).toThrow(/--sessions/);
    expect(buildMeasureOptions(flags({ silentDeadlineFloor: '1.5s' }))).toMatchObject({ silentDeadlineFloorMs: 1500 });
    expect(buildMeasureOptions(flags({ silentDeadlineFloor: '800ms' }))).toMatchObject({ silentDeadlineFloorMs: 800 });
    expect(() => buildMeasureOptions(flags({ silentDeadlineFloor: '50ms' }))).toThrow(/--silent-deadline-floor: "50ms" must be at least 100ms/);
    expect(() => buildMeasureOptions(flags({ silentDeadlineFloor: '3m' }))).toThrow(/--silent-deadline-floor: "3m" must be at most 2m/);
    expect(() => buildMeasureOptions(flags({ silentDeadlineFloor: 'soon' }))).toThrow(/--silent-deadline-floor: "soon" is not a duration/);
  });
});

describe('progress line', () => {
  it('shows brackets per direction, sessions, elapsed and ETA', () => {
    const m = new Map<Direction, SearchProgress>([
      ['outbound', { direction: 'outbound', lowerSeconds: 19.6, upperSeconds: 20.4, sessionsOpen: 3, elapsedMs: 30_000, etaMs: 10_000 }],
      ['inbound', { direction: 'inbound', lowerSeconds: 12, upperSeconds: null, sessionsOpen: 4, elapsedMs: 30_000, etaMs: 25_000 }],
    ]);
    expect(renderProgress(m, 8, 32_000)).toBe('outbound (19.6, 20.4] · inbound (12, …] · 8 sessions open · 00:32 elapsed · ETA 00:23');
    m.set('inbound', { ...m.get('inbound')!, etaMs: null });
    expect(renderProgress(m, 1, 0)).toMatch(/1 session open .* ETA \?$/);
    expect(formatDuration(3_725_000)).toBe('1:02:05');
  });
});

describe('demo server exec parsing', () => {
  it('accepts exactly "[echo W;] sleep N; echo X"', () => {
    expect(parseDemoExec('sleep 8; echo idleprobe')).toEqual({ before: null, sleepSeconds: 8, text: 'idleprobe' });
    expect(parseDemoExec('sleep 7.813;echo x')).toEqual({ before: null, sleepSeconds: 7.813, text: 'x' });
    expect(parseDemoExec('echo idleprobe-start; sleep 2; echo idleprobe')).toEqual({ before: 'idleprobe-start', sleepSeconds: 2, text: 'idleprobe' });
    expect(parseDemoExec('echo $(id); sleep 2; echo x')).toBeNull();
    expect(parseDemoExec('sleep 1; echo hi; rm -rf /')).toBeNull();
    expect(parseDemoExec('sleep 1; echo $(id)')).toBeNull();
    expect(parseDemoExec('sleep 99999; echo x')).toBeNull();
    expect(parseDemoExec('uptime')).toBeNull();
  });
});
