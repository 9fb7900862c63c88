// The sessions a search probes with: opened within the session cap and its connect pacing, kept
// while open, closed when asked. It knows nothing of directions' evidence: the coordinator
// (./coordinator.ts) decides what to open for, which session to probe and when to close one.
// With both directions sharing it (the signal method), every session carries the inbound waiter,
// so an idle session is an option for either direction.
import { ConnectPacer } from './pacer.ts';
import type { ConnectPacing } from './settings-schema.ts';
import {
  ConnectError,
  InboundUnsupportedError,
  type Clock,
  type Direction,
  type IdleEnd,
  type InboundMethod,
  type SearchSession,
  type SessionOpener,
} from './types.ts';

export interface PoolOptions extends ConnectPacing {
  /** Most sessions open (or connecting) at once. */
  sessions: number;
  /** Extra delay of the i-th connect after the pool's start (a warm start's spread), ms; null = none. */
  warmOffsetMs: ((index: number) => number) | null;
  /**
   * Every session must carry the signal method's waiter (both directions share them): the first
   * inbound session without one fails the pool with SleepMethodError.
   */
  signalOnly: boolean;
  /** Something the search may be waiting for happened (a session opened, or a connect failed). */
  onChange: () => void;
  /**
   * An open session ended on its own while idle (SearchSession.onEndedWhileIdle: a proxy closed it,
   * the server closed our channel…). Called at most once per session, never after close(id).
   */
  onIdleEnd?: (id: string, end: IdleEnd) => void;
}

/** A pool of both directions found that the target only has the `sleep` method: run them apart. */
export class SleepMethodError extends Error {
  constructor() {
    super('the inbound waiter is not available on this target (sleep method): the directions cannot share sessions');
    this.name = 'SleepMethodError';
  }
}

/** An open session of the pool. */
export interface PooledSession {
  readonly id: string;
  readonly session: SearchSession;
  /** A probe (or an upkeep ping) runs on it. */
  readonly busy: boolean;
}

interface Entry {
  session: SearchSession;
  busy: boolean;
  /** Stops listening for the session's idle end (when we close it ourselves). */
  unsubscribe: (() => void) | null;
}

/** What the pool's connects came to, for the verdicts and the result. */
export interface ConnectFacts {
  /** Connects that failed after one had worked (not the path, but they count against a search). */
  connectErrors: number;
  connectFailuresInRow: number;
  lastConnectError: unknown;
  /** Inbound: why the target cannot be measured in this direction at all. */
  unsupported: string | null;
}

export class SessionPool {
  private readonly entries = new Map<string, Entry>();
  private readonly pacer: ConnectPacer;
  private readonly abort = new AbortController();
  private readonly startMs: number;
  private connecting = 0;
  private closed = false;
  private sessionsOpenedCount = 0;
  /** How long each connect took (login, and an inbound waiter's start), ms, in the order started; null while pending. */
  private readonly connectDurations: (number | null)[] = [];
  private maxOpen = 0;
  private readonly facts: ConnectFacts = { connectErrors: 0, connectFailuresInRow: 0, lastConnectError: null, unsupported: null };
  private fatalError: Error | null = null;
  private method: InboundMethod | null = null;

  constructor(
    private readonly opener: SessionOpener,
    private readonly clock: Clock,
    private readonly opts: PoolOptions,
  ) {
    this.startMs = clock.now();
    this.pacer = new ConnectPacer(clock, opts);
  }

  /** Inbound: how the sessions make the server speak, known from the first inbound session. */
  get inboundMethod(): InboundMethod | null {
    return this.method;
  }

  /** A failure that ends the whole search (no session could ever be opened, or SleepMethodError). */
  get fatal(): Error | null {
    return this.fatalError;
  }

  get connectFacts(): Readonly<ConnectFacts> {
    return this.facts;
  }

  get sessionsOpened(): number {
    return this.sessionsOpenedCount;
  }

  get maxConcurrent(): number {
    return this.maxOpen;
  }

  get connectsMs(): (number | null)[] {
    return [...this.connectDurations];
  }

  get size(): number {
    return this.entries.size;
  }

  has(id: string): boolean {
    return this.entries.has(id);
  }

  isBusy(id: string): boolean {
    return this.entries.get(id)?.busy ?? false;
  }

  /** Every open session (also busy ones), in the order opened. */
  all(): PooledSession[] {
    return [...this.entries].map(([id, e]) => ({ id, session: e.session, busy: e.busy }));
  }

  /** Idle sessions (not busy, not closed); `withWaiter`: only those that can probe inbound by signal. */
  idle(withWaiter: boolean): PooledSession[] {
    const out: PooledSession[] = [];
    for (const [id, e] of this.entries) {
      if (e.busy || e.session.isClosed()) continue;
      if (withWaiter && !e.session.probeInboundNow) continue;
      out.push({ id, session: e.session, busy: false });
    }
    return out;
  }

  /** Marks session `id` busy and returns it; null when it is gone or already busy. */
  take(id: string): SearchSession | null {
    const e = this.entries.get(id);
    if (!e || e.busy) return null;
    e.busy = true;
    return e.session;
  }

  /** The probe on session `id` is over (the session may be gone meanwhile: then nothing to do). */
  giveBack(id: string, session: SearchSession): void {
    const e = this.entries.get(id);
    if (e && e.session === session) e.busy = false;
  }

  /** Closes session `id` and forgets it. */
  close(id: string): void {
    const e = this.entries.get(id);
    if (!e) return;
    this.entries.delete(id);
    e.unsubscribe?.();
    e.session.close();
  }

  /** Closes every session, aborts the connects in flight, and opens nothing any more. */
  closeAll(): void {
    this.closed = true;
    this.abort.abort();
    for (const e of this.entries.values()) {
      e.unsubscribe?.();
      e.session.close();
    }
    this.entries.clear();
  }

  /** Sessions the pool may still open (its cap minus open and connecting ones). */
  openable(): number {
    return Math.max(0, this.opts.sessions - this.entries.size - this.connecting);
  }

  /**
   * Opens one session for `purpose` if the cap, the pacing and a warm start's spread allow;
   * returns when to try next (null: the pool is full or closed).
   */
  maybeOpen(purpose: Direction): number | null {
    if (this.closed) return null;
    const now = this.clock.now();
    if (this.entries.size + this.connecting >= this.opts.sessions) return null;
    let earliest = this.pacer.nextSlotAt(now);
    const started = this.connectDurations.length;
    if (this.opts.warmOffsetMs && started < this.opts.sessions) earliest = Math.max(earliest, this.startMs + this.opts.warmOffsetMs(started));
    if (earliest > now) return earliest;
    this.pacer.take(now);
    this.connecting++;
    this.maxOpen = Math.max(this.maxOpen, this.entries.size + this.connecting);
    const index = this.connectDurations.push(null) - 1;
    const settled = () => {
      this.connecting--;
      this.connectDurations[index] = Math.round(this.clock.now() - now);
    };
    this.opener.open(this.abort.signal, purpose).then(
      (session) => {
        settled();
        this.opened(session, purpose);
      },
      (err: unknown) => {
        settled();
        this.failed(err);
      },
    );
    return this.entries.size + this.connecting < this.opts.sessions ? now + this.opts.connectStaggerMs : null;
  }

  private opened(session: SearchSession, purpose: Direction): void {
    if (this.closed) {
      session.close();
      return;
    }
    if (purpose === 'inbound') {
      // The opener decides the method once per target; a session of the other kind (opened
      // before it knew) is simply not used for probes of this method.
      const method: InboundMethod = session.probeInboundNow ? 'signal' : 'sleep';
      this.method ??= method;
      if (this.opts.signalOnly && method === 'sleep') {
        session.close();
        this.fatalError ??= new SleepMethodError();
        this.opts.onChange();
        return;
      }
      if (method !== this.method) {
        session.close();
        this.opts.onChange();
        return;
      }
    }
    this.sessionsOpenedCount++;
    this.facts.connectFailuresInRow = 0;
    const entry: Entry = { session, busy: false, unsubscribe: null };
    this.entries.set(session.id, entry);
    // A session that ends on its own while idle is evidence too (a proxy's close): the search hears of it.
    const onIdleEnd = this.opts.onIdleEnd;
    if (onIdleEnd && session.onEndedWhileIdle) {
      const unsubscribe = session.onEndedWhileIdle((end) => {
        if (this.entries.get(session.id) === entry) onIdleEnd(session.id, end);
      });
      // (It may have ended already: the listener then ran at once, and may have closed the entry.)
      if (this.entries.get(session.id) === entry) entry.unsubscribe = unsubscribe;
    }
    this.opts.onChange();
  }

  private failed(err: unknown): void {
    if (err instanceof InboundUnsupportedError) {
      this.facts.unsupported ??= err.message;
      this.opts.onChange();
      return;
    }
    this.facts.connectFailuresInRow++;
    this.facts.lastConnectError = err;
    if (!this.closed) {
      const connectError = err instanceof ConnectError ? err : new ConnectError(describe(err), 'unreachable');
      // Before any session worked: a wrong key or host key will not get better (fail now); a
      // refused or dropped connect may be sshd's MaxStartups throttling a burst (allow a few).
      const hopeless = connectError.kind === 'auth' || connectError.kind === 'host_key' || this.facts.connectFailuresInRow >= 3;
      if (this.sessionsOpenedCount > 0) this.facts.connectErrors++;
      else if (hopeless) this.fatalError ??= connectError;
    }
    this.opts.onChange();
  }
}

export function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
