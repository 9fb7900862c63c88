// The live path of `watch`: packets from a tcpdump child (restarted with back-off when it dies) or
// replayed from a file, through the same reader and analyser as `analyze`, out as events. Time —
// the watermark that judges unanswered probes while no packet arrives, the back-off — comes from
// the injected clock.
import { readCapture } from './capture-reader.ts';
import type { ByteSource } from './chunked-input.ts';
import type { ConnectionScope } from './connection-scope.ts';
import { CaptureFormatError } from './errors.ts';
import { LIVE_DELIVERY_SLACK_SECONDS, LIVE_FORGET_IDLE_SECONDS } from './events.ts';
import { isoTime } from './format.ts';
import { liveAnalysis, type LiveTracker } from './live-tracker.ts';
import type { AnalysisReport, FlowReport, ReadEnd } from './report.ts';
import { RestartBackoff } from './restart-backoff.ts';
import { LIVE_SNAPLEN, startTcpdump, type TcpdumpOptions, type TcpdumpRun } from './tcpdump-source.ts';
import { WatchStats, type WatchEvent } from './watch-stats.ts';

/** The clock the live path runs on (structurally the search's Clock: realClock in production). */
export interface WatchClock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** How often the watermark moves on the wall clock (and the screen is redrawn). */
const TICK_MS = 1000;

export type WatchSource = { kind: 'read'; input: ByteSource; name: string } | { kind: 'live'; tcpdump: TcpdumpOptions };

export interface WatchOptions {
  source: WatchSource;
  scope: ConnectionScope;
  clock: WatchClock;
  /** Every event, connection and capture. */
  onEvent(event: WatchEvent): void;
  /** Once per tick (live) — the table redraw. */
  onTick?(view: WatchView): void;
  /** Stops a live watch (Ctrl-C/SIGTERM), or a replay before the end of its input. */
  signal: AbortSignal;
  /** A replay: a stop was asked for (reading goes on until `signal` or the end; the report says interrupted). */
  stopRequested?: AbortSignal;
  heartbeatEvents?: boolean;
}

export interface WatchView {
  stats: WatchStats;
  connections: FlowReport[];
  /** Capture time "now" (seconds since the epoch): the wall clock live, the newest packet in a replay. */
  nowSeconds: number;
  packets: number;
  capturing: boolean;
}

export interface WatchResult extends WatchView {
  report: AnalysisReport;
  startedAtSeconds: number;
  firstPacketSeconds: number;
}

export async function runWatch(opts: WatchOptions): Promise<WatchResult> {
  const stats = new WatchStats();
  const live = opts.source.kind === 'live';
  const emit = (e: WatchEvent): void => {
    stats.add(e);
    opts.onEvent(e);
  };
  const tracker = liveAnalysis({
    scope: opts.scope,
    onEvent: emit,
    heartbeatEvents: opts.heartbeatEvents,
    // Replays too: the same live path, so a long capture is bounded the same way.
    forgetIdleAfterSeconds: LIVE_FORGET_IDLE_SECONDS,
    // Connections are reported by events; the final report keeps only totals and paths.
    maxFlows: 0,
  });
  const { store } = tracker;
  const startedAtSeconds = opts.clock.now() / 1000;
  const view = (capturing: boolean): WatchView => ({
    stats,
    connections: tracker.liveConnections(),
    nowSeconds: live ? opts.clock.now() / 1000 : store.lastTs,
    packets: store.packets,
    capturing,
  });

  if (opts.source.kind === 'read') {
    emit({ event: 'replay_started', at: isoTime(startedAtSeconds), file: opts.source.name });
    const end = await readCapture(opts.source.input, store, { maxPackets: Number.POSITIVE_INFINITY, signal: opts.signal, stopRequested: opts.stopRequested });
    tracker.end();
    return { ...view(false), report: tracker.report.report(end), startedAtSeconds, firstPacketSeconds: store.firstPacketSeconds };
  }

  const source = opts.source.tcpdump;
  const state = { capturing: false };
  // The ticker stops with the watch, or when the capture cannot go on (start-up failure).
  const ticking = new AbortController();
  const stopTicking = (): void => ticking.abort();
  opts.signal.addEventListener('abort', stopTicking, { once: true });
  const ticker = (async () => {
    while (!ticking.signal.aborted) {
      try {
        await opts.clock.sleep(TICK_MS, ticking.signal);
      } catch {
        break;
      }
      // While tcpdump is down nothing is seen: the clock must not judge probes whose answers we missed.
      if (state.capturing) tracker.advance(opts.clock.now() / 1000 - LIVE_DELIVERY_SLACK_SECONDS);
      opts.onTick?.(view(state.capturing));
    }
  })();
  try {
    await superviseTcpdump(source, tracker, opts, emit, state);
  } finally {
    stopTicking();
    opts.signal.removeEventListener('abort', stopTicking);
    await ticker;
  }
  // The watch ends now: connections still open are reported as idle up to this moment.
  tracker.advance(opts.clock.now() / 1000);
  tracker.end();
  return { ...view(false), report: tracker.report.report(LIVE_END), startedAtSeconds, firstPacketSeconds: store.firstPacketSeconds };
}

/** A live capture has no end of input to miss: it ends when it is stopped. */
const LIVE_END: ReadEnd = { stoppedAtMaxPackets: false, incomplete: null };

/** Runs tcpdump until the signal aborts; restarts it with back-off when it dies; never gives up silently. */
async function superviseTcpdump(
  source: TcpdumpOptions,
  tracker: LiveTracker,
  opts: WatchOptions,
  emit: (e: WatchEvent) => void,
  state: { capturing: boolean },
): Promise<void> {
  let restarts = 0;
  const backoff = new RestartBackoff(opts.clock);
  for (let run = 1; !opts.signal.aborted; run++) {
    let tcpdump: TcpdumpRun;
    const startedAt = opts.clock.now();
    try {
      tcpdump = startTcpdump(source);
      await tcpdump.started;
    } catch (err) {
      // The first start decides whether watching can work at all: say why and stop (exit 2/3).
      if (run === 1) throw err;
      restarts++;
      emit({ event: 'capture_restart_failed', at: isoTime(opts.clock.now() / 1000), reason: (err as Error).message, restarts, restartInSeconds: backoff.nextSeconds });
      if (!(await backoff.wait(opts.signal))) return;
      continue;
    }
    const onAbort = (): void => tcpdump.stop();
    opts.signal.addEventListener('abort', onAbort, { once: true });
    // Stopped while tcpdump was starting: the listener above never fires for a past abort.
    if (opts.signal.aborted) tcpdump.stop();
    state.capturing = true;
    emit({
      event: 'capture_started',
      at: isoTime(opts.clock.now() / 1000),
      interface: source.interface,
      filter: source.filter,
      snaplen: source.snaplen ?? LIVE_SNAPLEN,
      tcpdumpPid: await tcpdump.tcpdumpPid,
      run,
    });
    try {
      // tcpdump killed in the middle of writing a record: the stream just ends there (cut short).
      await readCapture(tcpdump.stdout, tracker.store, { maxPackets: Number.POSITIVE_INFINITY });
    } catch (err) {
      // Output that is not a capture at all (a tcpdump that wrote something else): it dies, and is restarted.
      if (!(err instanceof CaptureFormatError)) throw err;
    } finally {
      state.capturing = false;
      opts.signal.removeEventListener('abort', onAbort);
      tcpdump.stop();
    }
    const exit = await tcpdump.exited;
    if (opts.signal.aborted) return;
    restarts++;
    backoff.runEnded(startedAt);
    emit({
      event: 'capture_died',
      at: isoTime(opts.clock.now() / 1000),
      code: exit.code,
      signal: exit.signal,
      stderr: exit.stderr.trim().split('\n').slice(-2).join(' / '),
      restarts,
      restartInSeconds: backoff.nextSeconds,
    });
    if (!(await backoff.wait(opts.signal))) return;
  }
}
