// The global session budget (caps, FIFO, the shared connect pacer, abort) and the SQLite history store
// (durable records, paging, warm-start lookups, reopen).
import { settle } from '../support/settle.ts';
import { afterAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SessionBudget } from '../../src/daemon/budget.ts';
import { VirtualClock } from '../../src/search/sim/virtual-clock.ts';
import Database from 'better-sqlite3';
import { HistoryStore } from '../../src/daemon/history.ts';
import type { MeasurementResult } from '../../src/search/types.ts';

describe('session budget', () => {
  const caps = (maxSessions: number, maxConnectsPerMinute = 120, connectStaggerMs = 250) => ({ maxSessions, maxConnectsPerMinute, connectStaggerMs });

  it('grants up to capacity, queues FIFO beyond it, and wakes waiters on release', async () => {
    const b = new SessionBudget(caps(10, 100), new VirtualClock());
    const a = b.tryAcquire(6)!;
    expect(a.sessions).toBe(6);
    expect(b.tryAcquire(5)).toBeNull();
    const order: string[] = [];
    const w1 = b.acquire(5).then((l) => (order.push('w1'), l));
    const w2 = b.acquire(1).then((l) => (order.push('w2'), l)); // fits now, but must not overtake w1
    await settle(); // every promise that could grant w2 ahead of w1 has run
    expect(order).toEqual([]);
    expect(b.waiting).toBe(2);
    a.release();
    a.release(); // idempotent
    const [l1, l2] = await Promise.all([w1, w2]);
    expect(order).toEqual(['w1', 'w2']);
    expect(b.inUse).toBe(6);
    l1.release();
    l2.release();
    expect(b.inUse).toBe(0);
  });

  it('clamps a request to capacity and aborts waiters', async () => {
    const b = new SessionBudget(caps(4, 2), new VirtualClock());
    const big = b.tryAcquire(50)!;
    expect(big.sessions).toBe(4);
    expect(b.tryAcquire(1)).toBeNull();
    const ctl = new AbortController();
    const waiting = b.acquire(1, ctl.signal);
    ctl.abort(new Error('reload'));
    await expect(waiting).rejects.toThrow('reload');
    expect(b.waiting).toBe(0);
    big.release();
    b.tryAcquire(1)!.release();
  });

  it('every lease carries the one connect pacer of the daemon, whose limits a reload changes', () => {
    const b = new SessionBudget(caps(64, 120), new VirtualClock());
    const leases = [9, 9, 9].map((n) => b.tryAcquire(n)!);
    expect(new Set(leases.map((l) => l.connectPacer)).size).toBe(1);
    expect(leases[0].connectPacer).toBe(b.connectPacer);
    b.setLimits(caps(128, 30, 1000));
    expect(b.limits).toEqual({ maxSessions: 128, maxConnectsPerMinute: 30, connectStaggerMs: 1000 });
    expect(b.connectPacer.pacing).toEqual({ maxConnectsPerMinute: 30, connectStaggerMs: 1000 });
  });
});

describe('history store', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idleprobe-history-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const result = (target: string, est: number): MeasurementResult => ({
    target,
    startedAt: '2026-01-01T00:00:00.000Z',
    elapsedSeconds: 12,
    results: [
      {
        direction: 'inbound',
        verdict: 'timeout',
        lowerSeconds: est - 1,
        upperSeconds: est + 1,
        estimateSeconds: est,
        failureMode: 'reset',
        probes: [{ ageSeconds: est + 1, outcome: 'reset', at: '2026-01-01T00:00:10.000Z', sessionId: 'x#1' }],
        consistency: 1,
        sessionsOpened: 3,
        maxConcurrentSessions: 3,
        elapsedMs: 12000,
        reason: null,
      },
    ],
    serverHeartbeatSeconds: null,
    recommendedHeartbeatSeconds: est - 5,
  });

  it('uses WAL and synchronous=FULL, survives reopen, pages newest first', () => {
    const file = path.join(dir, 'h.sqlite');
    const h = new HistoryStore(file);
    h.record({ target: 'a', status: 'ok', startedAt: 's1', finishedAtMs: 1000, durationSeconds: 1, result: result('a', 30) });
    h.record({ target: 'a', status: 'failed', startedAt: 's2', finishedAtMs: 2000, durationSeconds: 2, errorKind: 'auth', error: 'denied' });
    h.record({ target: 'b', status: 'ok', startedAt: 's3', finishedAtMs: 3000, durationSeconds: 3, result: result('b', 60) });
    h.close();
    const raw = new Database(file, { readonly: true });
    expect(raw.pragma('journal_mode', { simple: true })).toBe('wal'); // WAL is persistent in the file
    raw.close();

    const again = new HistoryStore(file);
    const list = again.list('a');
    expect(list.map((e) => e.status)).toEqual(['failed', 'ok']);
    expect(list[1].result?.results[0].probes[0].outcome).toBe('reset');
    expect(again.list('a', 1, list[0].id).map((e) => e.startedAt)).toEqual(['s1']);
    const warm = again.latestByTarget();
    expect(warm.get('a')!.latest.status).toBe('failed');
    expect(warm.get('a')!.latestOk!.result!.results[0].estimateSeconds).toBe(30);
    expect(warm.get('b')!.latestOk!.finishedAtMs).toBe(3000);
    expect(again.latestOk('nobody')).toBeNull();
    again.close();
  });

  it('prunes old entries but always keeps the latest good result of each target', () => {
    const h = new HistoryStore(':memory:');
    h.record({ target: 'a', status: 'ok', startedAt: 'old-ok', finishedAtMs: 1000, durationSeconds: 1, result: result('a', 30) });
    h.record({ target: 'a', status: 'failed', startedAt: 'old-fail', finishedAtMs: 2000, durationSeconds: 1, errorKind: 'unreachable', error: 'x' });
    h.record({ target: 'b', status: 'ok', startedAt: 'b-old', finishedAtMs: 1000, durationSeconds: 1, result: result('b', 30) });
    h.record({ target: 'b', status: 'ok', startedAt: 'b-new', finishedAtMs: 9000, durationSeconds: 1, result: result('b', 31) });
    expect(h.prune(5000)).toBe(2);
    expect(h.list('a').map((e) => e.startedAt)).toEqual(['old-ok']);
    expect(h.list('b').map((e) => e.startedAt)).toEqual(['b-new']);
    h.close();
  });
});
