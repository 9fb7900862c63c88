// The sessions a search probes with: opened staggered and within the connect budget, and shared
// by every search that joined the pool. One search alone owns its pool (as before); both
// directions together share one pool of the signal method, where an idle session is an option
// for either direction — the client speaks (outbound) or the waiter is signalled (inbound) — and
// which one is decided only when a planner fires it. Each use consumes the session's idle age.
import type { Wakeup } from './wakeup.ts';
import {
  ConnectError,
  InboundUnsupportedError,
  type Clock,
  type Direction,
  type InboundMethod,
  type SearchSession,
  type SessionOpener,
} from './types.ts';

export interface Tracked {
  session: SearchSession;
  busy: boolean;
}

export interface PoolOptions {
  maxSessions: number;
  connectStaggerMs: number;
  maxConnectsPerMinute: number;
  /** Extra delay of the i-th connect after the pool's start (a warm start's spread), ms. */
  warmOffsetMs?: ((index: number) => number) | null;
}

/** A pool of both directions found that the target only has the `sleep` method: run them apart. */
export class SleepMethodError extends Error {
  constructor() {
    super('the inbound waiter is not available on this target (sleep method): the directions cannot share sessions');
    this.name = 'SleepMethodError';
  }
}

export interface MemberHint {
  top: number | null;
  lower: number | null;
  upper: number | null;
  inFlight: number[];
  /** When one of its probes in flight becomes suspect (its upper bound may appear then), ms. */
  nextSuspectAtMs: number | null;
}

/** A member of the pool: its direction, whether it still runs, and the sessions it has no use for. */
export interface PoolMember {
  readonly direction: Direction;
  /** What this member knows, for the other one's planner (plan.ts PeerHint, without the turn). */
  hint(nowMs: number): MemberHint;
  readonly wakeup: Wakeup;
  done: boolean;
  /** Sessions this member's planner asked to close (useless to it); reset each time it plans. */
  unwanted: Set<string>;
}

export class SessionPool {
  readonly sessions = new Map<string, Tracked>();
  private readonly members: PoolMember[] = [];
  /** Both directions exploring: who fired the last rung of the ladder they climb together. */
  lastExploredBy: PoolMember | null = null;
  /** ...and who fired the last probe of all (the other one plans first next time). */
  lastFiredBy: PoolMember | null = null;
  private readonly connectStarts: number[] = [];
  private readonly abort = new AbortController();
  private connecting = 0;
  sessionsOpened = 0;
  /** How long each connect took (login, and an inbound waiter's start), ms, in the order started; null while pending. */
  readonly connectDurationsMs: (number | null)[] = [];
  maxConcurrent = 0;
  /** Connects that failed after one had worked (not the path, but they count against a search). */
  connectErrors = 0;
  connectFailuresInRow = 0;
  lastConnectError: unknown = null;
  fatal: Error | null = null;
  /** Inbound: how the sessions opened so far make the server speak (known from the first one). */
  inboundMethod: InboundMethod | null = null;
  /** Inbound: why the target cannot be measured in this direction at all. */
  unsupported: string | null = null;
  private closedAll = false;

  constructor(
    private readonly opener: SessionOpener,
    private readonly clock: Clock,
    private readonly opts: PoolOptions,
    private readonly startMs: number = clock.now(),
  ) {}

  /** More than one direction draws from this pool (then sessions are signal-method options only). */
  get shared(): boolean {
    return this.members.length > 1;
  }

  /** The other member (also once it finished: what it found still tells where to look). */
  otherOf(member: PoolMember): PoolMember | null {
    return this.members.find((m) => m !== member) ?? null;
  }

  join(member: PoolMember): void {
    this.members.push(member);
  }

  /** A member finished: its votes no longer hold anything open; the last one closes everything. */
  leave(member: PoolMember): void {
    member.done = true;
    member.unwanted.clear();
    if (this.members.every((m) => m.done)) {
      this.closedAll = true;
      this.abort.abort();
      for (const t of this.sessions.values()) t.session.close();
      this.sessions.clear();
      return;
    }
    for (const id of [...this.sessions.keys()]) this.closeIfUnwanted(id);
    this.notifyAll();
  }

  /** Idle sessions `member` may probe (inbound of a shared pool: only those with a waiter). */
  idleFor(member: PoolMember): { id: string; t: Tracked }[] {
    const out: { id: string; t: Tracked }[] = [];
    for (const [id, t] of this.sessions) {
      if (t.busy || t.session.isClosed()) continue;
      if (this.shared && member.direction === 'inbound' && !t.session.probeInboundNow) continue;
      out.push({ id, t });
    }
    return out;
  }

  /** `member`'s planner has no use for session `id`: closed once no running member has any. */
  release(member: PoolMember, id: string): void {
    if (!this.shared) {
      this.close(id);
      return;
    }
    member.unwanted.add(id);
    this.closeIfUnwanted(id);
  }

  private closeIfUnwanted(id: string): void {
    const t = this.sessions.get(id);
    if (!t || t.busy) return;
    if (this.members.every((m) => m.done || m.unwanted.has(id))) this.close(id);
  }

  /** The session ended or failed: gone for every member. */
  close(id: string): void {
    const t = this.sessions.get(id);
    if (!t) return;
    this.sessions.delete(id);
    for (const m of this.members) m.unwanted.delete(id);
    t.session.close();
  }

  notifyAll(): void {
    for (const m of this.members) m.wakeup.notify();
  }

  /** Direction the next session is opened for: inbound (with its waiter) while an inbound member runs and can. */
  private purpose(): Direction {
    const inbound = this.members.some((m) => !m.done && m.direction === 'inbound');
    if (inbound && this.unsupported === null) return 'inbound';
    return this.members.some((m) => !m.done && m.direction === 'outbound') ? 'outbound' : 'inbound';
  }

  /** Opens one session if the cap, the stagger and the per-minute budget allow; returns when to try next. */
  maybeOpen(): number | null {
    if (this.closedAll) return null;
    const now = this.clock.now();
    if (this.sessions.size + this.connecting >= this.opts.maxSessions) return null;
    let earliest = now;
    const last = this.connectStarts.at(-1);
    if (last !== undefined) earliest = Math.max(earliest, last + this.opts.connectStaggerMs);
    const lastMinute = this.connectStarts.filter((t) => t > now - 60_000);
    if (lastMinute.length >= this.opts.maxConnectsPerMinute) earliest = Math.max(earliest, lastMinute[0]! + 60_000);
    if (this.opts.warmOffsetMs && this.connectStarts.length < this.opts.maxSessions) {
      earliest = Math.max(earliest, this.startMs + this.opts.warmOffsetMs(this.connectStarts.length));
    }
    if (earliest > now) return earliest;
    this.connectStarts.push(now);
    if (this.connectStarts.length > 4 * this.opts.maxConnectsPerMinute) this.connectStarts.splice(0, this.connectStarts.length - 2 * this.opts.maxConnectsPerMinute);
    this.connecting++;
    this.noteConcurrency();
    const purpose = this.purpose();
    const index = this.connectDurationsMs.push(null) - 1;
    const settled = () => {
      this.connecting--;
      this.connectDurationsMs[index] = Math.round(this.clock.now() - now);
    };
    this.opener.open(this.abort.signal, purpose).then(
      (session) => {
        settled();
        if (this.closedAll) {
          session.close();
          return;
        }
        if (purpose === 'inbound') {
          // The opener decides the method once per target; a session of the other kind (opened
          // before it knew) is simply not used for probes of this method.
          const method: InboundMethod = session.probeInboundNow ? 'signal' : 'sleep';
          this.inboundMethod ??= method;
          if (this.shared && method === 'sleep') {
            session.close();
            this.fatal ??= new SleepMethodError();
            this.notifyAll();
            return;
          }
          if (method !== this.inboundMethod) {
            session.close();
            this.notifyAll();
            return;
          }
        }
        this.sessionsOpened++;
        this.connectFailuresInRow = 0;
        this.sessions.set(session.id, { session, busy: false });
        this.notifyAll();
      },
      (err: unknown) => {
        settled();
        if (err instanceof InboundUnsupportedError) {
          this.unsupported ??= err.message;
          this.notifyAll();
          return;
        }
        this.connectFailuresInRow++;
        this.lastConnectError = err;
        if (!this.closedAll) {
          const connectError = err instanceof ConnectError ? err : new ConnectError(describe(err), 'unreachable');
          // Before any session worked: a wrong key or host key will not get better (fail now); a
          // refused or dropped connect may be sshd's MaxStartups throttling a burst (allow a few).
          const hopeless = connectError.kind === 'auth' || connectError.kind === 'host_key' || this.connectFailuresInRow >= 3;
          if (this.sessionsOpened > 0) this.connectErrors++;
          else if (hopeless) this.fatal ??= connectError;
        }
        this.notifyAll();
      },
    );
    return this.sessions.size + this.connecting < this.opts.maxSessions ? now + this.opts.connectStaggerMs : null;
  }

  /** Sessions the pool may still open (its cap minus open and connecting ones). */
  openable(): number {
    return Math.max(0, this.opts.maxSessions - this.sessions.size - this.connecting);
  }

  private noteConcurrency(): void {
    this.maxConcurrent = Math.max(this.maxConcurrent, this.sessions.size + this.connecting);
  }
}

export function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
