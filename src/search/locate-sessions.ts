// The probe sessions of a locate run: which level and role each serves, the hop it idles at (and
// the keepalive timing there), which ones are idle, and probing one. What an answer means is the
// run's business (it hands each answer to the part whose probe it was).
import { RunState, type Level, type Role, type Tracked } from './locate-state.ts';
import type { HopSession } from './locate-types.ts';
import type { IdleEnd, ProbeReport } from './types.ts';

/** Keep-alive interval changes smaller than this factor are not worth a setsockopt round. */
const RETIME_FACTOR = 1.5;

export type ProbeReason = Role | 'upkeep';

export class SessionTable {
  private readonly sessions = new Map<string, Tracked>();
  private nextId = 1;

  constructor(
    private readonly state: RunState,
    private readonly onAnswer: (t: Tracked, why: ProbeReason, report: ProbeReport) => void,
  ) {}

  get size(): number {
    return this.sessions.size;
  }

  get(id: string): Tracked | undefined {
    return this.sessions.get(id);
  }

  /** Is `t` still one of the run's sessions (not closed and replaced)? */
  holds(t: Tracked): boolean {
    return this.sessions.get(t.id) === t;
  }

  all(): IterableIterator<Tracked> {
    return this.sessions.values();
  }

  /**
   * A session just opened for a level's role at a hop (opened now: every box saw it now, any hop is
   * right for it). The run hears when it ends on its own while idle (a proxy's FIN): `ended()`.
   */
  add(session: HopSession, level: Level, role: Role, hop: number): Tracked {
    const t: Tracked = { id: `s${this.nextId++}`, session, hop: 0, intervalSeconds: null, role, level, busy: false, unwatch: () => {} };
    this.sessions.set(t.id, t);
    this.assign(t, level, role, hop);
    t.unwatch = session.onEndedWhileIdle?.(() => this.state.wakeup.notify()) ?? (() => {});
    return t;
  }

  /** Sessions that ended on their own (nothing of ours in flight), with how, if they can tell. */
  ended(): { t: Tracked; end: IdleEnd | null }[] {
    const out: { t: Tracked; end: IdleEnd | null }[] = [];
    for (const t of this.sessions.values()) if (!t.busy && t.session.isClosed()) out.push({ t, end: t.session.endedWhileIdle?.() ?? null });
    return out;
  }

  /** The idle sessions of a level's role and their idle ages (sessions that ended are left to `ended()`). */
  idleOf(level: Level, role: Role, now: number): { id: string; ageSeconds: number }[] {
    const out: { id: string; ageSeconds: number }[] = [];
    for (const t of this.sessions.values()) {
      if (t.level !== level || t.role !== role || t.busy) continue;
      if (t.session.isClosed()) continue;
      out.push({ id: t.id, ageSeconds: Math.max(0, (now - t.session.lastActivityAt()) / 1000) });
    }
    return out;
  }

  countRole(level: Level, role: Role): number {
    let n = 0;
    for (const t of this.sessions.values()) if (t.level === level && t.role === role) n++;
    return n;
  }

  closeRole(level: Level, role: Role): void {
    for (const t of [...this.sessions.values()]) if (t.level === level && t.role === role && !t.busy) this.closeSession(t.id);
  }

  /** Closes every session of a level (the idle ones only, with `idleOnly`). */
  closeLevel(level: Level, idleOnly: boolean): void {
    for (const t of [...this.sessions.values()]) if (t.level === level && (!idleOnly || !t.busy)) this.closeSession(t.id);
  }

  closeSession(id: string): void {
    const t = this.sessions.get(id);
    if (!t) return;
    this.sessions.delete(id);
    t.unwatch();
    t.level.search.forget(id);
    t.session.close(this.mayBeForgotten(t));
  }

  closeAll(): void {
    for (const t of this.sessions.values()) {
      t.unwatch();
      t.session.close(this.mayBeForgotten(t));
    }
    this.sessions.clear();
  }

  /** Idle longer than the path timeout's lower bound (every box keeps a session at least that long): a box may have forgotten it. */
  private mayBeForgotten(t: Tracked): boolean {
    const lower = this.state.levels.length > 0 ? this.state.pathLower() : null;
    return lower === null || (this.state.clock.now() - t.session.lastActivityAt()) / 1000 >= lower;
  }

  /** Moves a session to a role and hop. Only for sessions that are certainly alive (or just probed). */
  assign(t: Tracked, level: Level, role: Role, hop: number): void {
    this.state.log(() => `  assign ${t.id} (age ${((this.state.clock.now() - t.session.lastActivityAt()) / 1000).toFixed(1)}) → L${level.index} ${role} hop ${hop}`);
    t.level = level;
    t.role = role;
    if (t.hop !== hop) {
      t.hop = hop;
      const timing = hop === 0 ? null : this.state.timing();
      t.intervalSeconds = timing?.intervalSeconds ?? null;
      t.session.setHop(hop, timing);
    }
  }

  /** A keepalive interval that grew with the path timeout's lower bound: fewer keepalives, a higher ceiling. */
  retime(): void {
    const timing = this.state.timing();
    for (const t of this.sessions.values()) {
      if (t.hop === 0 || t.intervalSeconds === null || t.busy) continue;
      if (timing.intervalSeconds >= t.intervalSeconds * RETIME_FACTOR) {
        t.intervalSeconds = timing.intervalSeconds;
        t.session.setHop(t.hop, timing);
      }
    }
  }

  /** Probes a session now (once at a time); its answer goes to the run. */
  fire(t: Tracked, why: ProbeReason): void {
    if (t.busy) return;
    const now = this.state.clock.now();
    const age = Math.max(0, (now - t.session.lastActivityAt()) / 1000);
    t.busy = true;
    const level = t.level;
    if (why === 'search' || why === 'upkeep') level.search.fired(t.id, age, now);
    if (why === 'frontier') {
      const fh = level.frontier.find((f) => f.hop === t.hop);
      if (fh) fh.firedAtMs = now;
    }
    // Not awaited: probes run side by side; a failure becomes an `error` report, the answer is handled synchronously.
    void t.session
      .probeOutbound()
      .catch((err: unknown): ProbeReport => ({ outcome: 'error', ageSeconds: age, at: this.state.clock.now(), detail: String(err) }))
      .then((report) => this.onAnswer(t, why, report));
  }
}
