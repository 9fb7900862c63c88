// One session of the survival matrix: heartbeats every h seconds of idleness, nothing else, for a
// window — with OpenSSH's ServerAliveInterval/ServerAliveCountMax semantics:
//  - a heartbeat goes out when the connection has been idle for h s (any byte resets the timer,
//    as in OpenSSH where received data resets it);
//  - any answer resets the unanswered counter; after CountMax consecutive unanswered heartbeats the
//    session is dead (OpenSSH: "Timeout, server not responding");
//  - with a session's `heartbeat()` (sends without closing on silence), a heartbeat counts as
//    unanswered when no reply came within h — OpenSSH increments its counter at each check, h after
//    the previous heartbeat, and gives up at the check after the CountMax-th: N × h after the first
//    unanswered heartbeat, (N + 1) × h after the last byte from the server. A reply that comes later
//    is still proof of life and resets the count, as any packet from the server does in OpenSSH;
//  - an RST or a close by the server ends it at once.
// A session without heartbeat (interval null) just idles and is checked once at the window's end;
// so does a `tcp` row (kernel keepalives on its socket, nothing at SSH level).
// A session that ends on its own while idle (SearchSession.endedWhileIdle: a proxy's FIN, an RST, the
// server closing our channel) is followed at once: the runner wakes up, and the moment and idle age
// of the end are known exactly — for `closed` and `reset` the path's timeout, observed.
import type { Clock, IdleEnd, ProbeReport } from '../search/types.ts';
import type { DeathCause, HeartbeatKind, HeartbeatRunResult, HeartbeatSession } from './types.ts';

export interface RunSessionOptions {
  /** The row's interval (a `tcp` row's keepalive interval); null: the session without heartbeat. */
  intervalSeconds: number | null;
  /** `tcp`: the session sends no SSH heartbeat (its socket sends kernel keepalives). Default `ssh`. */
  kind?: HeartbeatKind;
  windowSeconds: number;
  countMax: number;
  clock: Clock;
  signal?: AbortSignal;
}

/** Longest sleep between two looks at a session that might be closed under us, ms. */
const MAX_NAP_MS = 5_000;
/** How long to wait for a connection to finish closing after an unanswered heartbeat, ms. */
const CLOSE_SETTLE_MS = 100;

export async function runHeartbeatSession(session: HeartbeatSession, opts: RunSessionOptions): Promise<HeartbeatRunResult> {
  const { clock, countMax, windowSeconds, intervalSeconds, signal } = opts;
  const kind: HeartbeatKind = opts.kind ?? 'ssh';
  // SSH heartbeats only for `ssh` rows with an interval; a `tcp` row idles at SSH level.
  const heartbeatSeconds = kind === 'ssh' ? intervalSeconds : null;
  const startedAt = clock.now();
  const windowEnd = startedAt + windowSeconds * 1000;
  const sinceStart = (t: number) => round1((t - startedAt) / 1000);

  let sent = 0;
  let answered = 0;
  let unanswered = 0;
  let consecutiveUnanswered = 0;
  let firstUnansweredOfRunAt: number | null = null;
  let lastAnsweredAt: number | null = null;
  let longestAnsweredIdle: number | null = null;
  let lastSilentDetail: string | null = null;
  let idleSecondsAtDeath: number | null = null;

  const finish = (survived: boolean, cause: DeathCause | null, declaredAt: number | null, detail: string | null): HeartbeatRunResult => ({
    kind,
    intervalSeconds,
    survived,
    secondsSurvived: survived ? windowSeconds : lastAnsweredAt === null ? 0 : sinceStart(lastAnsweredAt),
    diedAtSeconds: survived || firstUnansweredOfRunAt === null ? null : sinceStart(firstUnansweredOfRunAt),
    declaredDeadAtSeconds: survived || declaredAt === null ? null : sinceStart(declaredAt),
    idleSecondsAtDeath: survived ? null : idleSecondsAtDeath,
    cause: survived ? null : cause,
    heartbeatsSent: sent,
    heartbeatsAnswered: answered,
    heartbeatsUnanswered: unanswered,
    longestAnsweredIdleSeconds: longestAnsweredIdle,
    serverHeartbeatSeconds: session.serverHeartbeatSeconds(),
    detail,
  });

  // Replies to earlier heartbeats that came after their deadline: the heartbeat was answered after
  // all, and the path is alive — the run of unanswered heartbeats is over.
  let lateSeen = 0;
  const absorbLateAnswers = () => {
    const late = session.lateHeartbeatAnswers?.();
    if (!late || late.count <= lateSeen) return;
    const fresh = late.count - lateSeen;
    lateSeen = late.count;
    const moved = Math.min(fresh, unanswered);
    unanswered -= moved;
    answered += moved;
    consecutiveUnanswered = 0;
    firstUnansweredOfRunAt = null;
    const at = late.lastAt ?? clock.now();
    lastAnsweredAt = lastAnsweredAt === null ? at : Math.max(lastAnsweredAt, at);
  };

  /** Applies one heartbeat's outcome; returns a finished result when the session is dead. */
  const account = (r: ProbeReport, isHeartbeat: boolean): HeartbeatRunResult | null => {
    // Late replies that came while this one was outstanding were received before its verdict.
    absorbLateAnswers();
    if (isHeartbeat) sent++;
    switch (r.outcome) {
      case 'alive':
        if (isHeartbeat) answered++;
        consecutiveUnanswered = 0;
        firstUnansweredOfRunAt = null;
        lastAnsweredAt = clock.now();
        longestAnsweredIdle = Math.max(longestAnsweredIdle ?? 0, round1(r.ageSeconds));
        return null;
      case 'silent':
        // The end-of-window check failing says only "died some time before"; no moment is known.
        if (!isHeartbeat) return finish(false, 'silent', clock.now(), `no answer to the end-of-window check after ${round1(r.ageSeconds)} s idle`);
        unanswered++;
        consecutiveUnanswered++;
        firstUnansweredOfRunAt ??= r.at;
        lastSilentDetail = r.detail ?? null;
        if (consecutiveUnanswered >= countMax) {
          return finish(false, 'silent', clock.now(), `${consecutiveUnanswered} consecutive heartbeats unanswered (CountMax ${countMax})`);
        }
        if (session.isClosed()) {
          // The driver gave up on the connection after the unanswered heartbeat: nothing more can be
          // sent, so CountMax cannot be played out; the path had dropped the connection anyway.
          return finish(
            false,
            'silent',
            clock.now(),
            `heartbeat unanswered after ${round1(r.ageSeconds)} s idle${r.detail ? ` (${r.detail})` : ''}; the session driver then closed the connection`,
          );
        }
        return null;
      case 'reset':
        if (isHeartbeat) {
          unanswered++;
          firstUnansweredOfRunAt ??= r.at;
        }
        return finish(false, 'reset', clock.now(), `connection reset after ${round1(r.ageSeconds)} s idle`);
      case 'closed':
        // The connection was closed under this request (the far end's FIN while it was on its way).
        if (isHeartbeat) {
          unanswered++;
          firstUnansweredOfRunAt ??= r.at;
        }
        return finish(false, 'closed', clock.now(), r.detail ?? `the far end closed the connection after ${round1(r.ageSeconds)} s idle`);
      case 'server_closed':
        return finish(false, 'server_closed', clock.now(), r.detail ?? 'the server closed the connection');
      case 'error':
      default:
        return finish(false, 'error', clock.now(), r.detail ?? 'probe error (not counted against the path)');
    }
  };

  /** The session ended on its own while idle: the driver says how and at which idle age. */
  const endedOnItsOwn = (e: IdleEnd): HeartbeatRunResult => {
    if (e.outcome === 'closed' || e.outcome === 'reset') {
      // The path's own moment: it ended the session after e.ageSeconds of silence.
      firstUnansweredOfRunAt ??= e.at;
      idleSecondsAtDeath = round1(e.ageSeconds);
    }
    if (e.outcome === 'silent') firstUnansweredOfRunAt ??= e.at;
    return finish(false, e.outcome, e.at, `${e.detail} (after ${round1(e.ageSeconds)} s idle)`);
  };

  const closedWhileIdle = () => {
    const e = session.endedWhileIdle?.();
    if (e && consecutiveUnanswered === 0) return endedOnItsOwn(e);
    return consecutiveUnanswered > 0
      ? // The prober's sessions close themselves (asynchronously) after an unanswered probe: the
        // path had dropped the connection, CountMax just could not be played out.
        finish(
          false,
          'silent',
          clock.now(),
          `heartbeat unanswered${lastSilentDetail ? ` (${lastSilentDetail})` : ''}; the session driver then closed the connection`,
        )
      : finish(false, 'server_closed', clock.now(), 'connection ended while idle (FIN or RST from the server or the path)');
  };

  // Naps end early when the session ends on its own (the driver's notification), so the end is
  // followed at once rather than at the next look.
  let wake: AbortController | null = null;
  const unsubscribe = session.onEndedWhileIdle?.(() => wake?.abort()) ?? (() => {});
  const nap = async (ms: number) => {
    if (session.endedWhileIdle?.() || session.isClosed()) return;
    wake = new AbortController();
    const onOuter = () => wake?.abort();
    signal?.addEventListener('abort', onOuter, { once: true });
    try {
      await clock.sleep(ms, wake.signal);
    } catch (err) {
      if (signal?.aborted) throw err;
    } finally {
      signal?.removeEventListener('abort', onOuter);
      wake = null;
    }
  };
  try {
    return await loop();
  } finally {
    unsubscribe();
  }

  async function loop(): Promise<HeartbeatRunResult> {
    // Bounded: at most one heartbeat per interval over the window, plus CountMax to confirm a death
    // that started inside the window; naps between looks are bounded by MAX_NAP_MS.
    const maxHeartbeats = heartbeatSeconds === null ? 0 : Math.ceil(windowSeconds / heartbeatSeconds) + countMax + 2;
    const tailSeconds = heartbeatSeconds === null ? 0 : (countMax + 2) * heartbeatSeconds;
    const maxSteps = 2 * maxHeartbeats + Math.ceil(((windowSeconds + tailSeconds) * 1000) / MAX_NAP_MS) + 16;
    for (let step = 0; step < maxSteps; step++) {
      absorbLateAnswers();
      if (session.isClosed() || (consecutiveUnanswered === 0 && session.endedWhileIdle?.())) return closedWhileIdle();
      const now = clock.now();
      // A death that began inside the window is followed to its end even past the window — but not a
      // run of unanswered heartbeats that began after it (a late reply ended the one from inside):
      // the end-of-window check judges that one.
      const confirmingDeath = consecutiveUnanswered > 0 && firstUnansweredOfRunAt !== null && firstUnansweredOfRunAt < windowEnd;
      if (!confirmingDeath && now >= windowEnd) break;
      if (heartbeatSeconds === null || sent >= maxHeartbeats) {
        await nap(Math.max(0, Math.min(MAX_NAP_MS, windowEnd - now)));
        continue;
      }
      const dueAt = session.lastActivityAt() + heartbeatSeconds * 1000;
      if (!confirmingDeath && dueAt >= windowEnd) {
        await nap(Math.max(0, Math.min(MAX_NAP_MS, windowEnd - now)));
        continue;
      }
      if (dueAt > now) {
        await nap(Math.min(MAX_NAP_MS, dueAt - now));
        continue;
      }
      // With heartbeat(): unanswered = no reply before the next heartbeat is due (h), as OpenSSH counts.
      const report = await (session.heartbeat ? session.heartbeat(heartbeatSeconds * 1000) : session.probeOutbound());
      const dead = account(report, true);
      if (dead) return dead;
      if (report.outcome === 'silent' && !session.heartbeat) {
        // A driver that ends the connection after an unanswered probe does so a tick later (socket
        // 'close'); look again shortly rather than at the next heartbeat.
        await clock.sleep(CLOSE_SETTLE_MS, signal);
      }
    }
    if (session.isClosed() || (consecutiveUnanswered === 0 && session.endedWhileIdle?.())) return closedWhileIdle();
    // End of the window: one check that the connection still carries traffic. For heartbeat sessions
    // it comes at an idle age below h, so it cannot hide a failure; for the session without heartbeat
    // it is the only look at the path.
    const check = await session.probeOutbound();
    const dead = account(check, false);
    if (dead) return dead;
    return finish(true, null, null, null);
  }
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}
