// What the pages and reports are drawn from. The shapes are those of the exporter's JSON API
// (`/api/targets`, `/api/targets/:name/history`, `…/heartbeat`, `…/locate`) and of the CLI's
// `--json` documents, declared here structurally so this folder depends on neither the exporter nor
// the daemon: the pages show exactly what the API serves, and the browser tests compare the two.
import type { Direction } from '../search/types.ts';

/** One direction's bracket, as in `latest.results[]` of /api/targets and in `measure --json`. */
export interface BracketJson {
  direction: Direction;
  verdict: string;
  lowerSeconds: number | null;
  upperSeconds: number | null;
  estimateSeconds: number | null;
  failureMode: string | null;
  reason?: string | null;
  /** The shortest age probed already failed: `upperSeconds` is an upper bound only, no estimate. */
  belowMin?: boolean;
}

/** `latest` / `lastAttempt` of a target in /api/targets. */
export interface RunSummaryJson {
  id: number;
  status: string;
  startedAt: string;
  finishedAt: string;
  durationSeconds: number;
  error: string | null;
  errorKind: string | null;
  results: BracketJson[] | null;
  serverHeartbeatSeconds: number | null;
  recommendedHeartbeatSeconds: number | null;
}

/** A target of /api/targets (the fields the pages use). */
export interface TargetJson {
  name: string;
  host: string;
  port: number;
  module: string;
  directions: string[];
  schedule: string;
  nextRunAt: string | null;
  running: { since: string; reason: string } | null;
  up: 0 | 1 | null;
  latest: RunSummaryJson | null;
  lastAttempt: RunSummaryJson | null;
}

/** A probe of a measurement document (`measure --json`, history `result.results[].probes[]`). */
export interface ProbeJson {
  ageSeconds: number;
  outcome: string; // a ProbeOutcome, or one a newer daemon reports that this page does not know
  at: string;
  sessionId: string;
}

/** The `measure --json` document, as stored in history (the fields the plots use). */
export interface MeasurementJson {
  target: string;
  startedAt: string;
  elapsedSeconds: number;
  results: (BracketJson & { probes: ProbeJson[] })[];
  serverHeartbeatSeconds: number | null;
  recommendedHeartbeatSeconds: number | null;
}

/** An entry of /api/targets/:name/history. */
export interface HistoryRunJson {
  id: number;
  status: string;
  startedAt: string;
  finishedAtMs: number;
  durationSeconds: number;
  result: MeasurementJson | null;
  errorKind: string | null;
  error: string | null;
}

/** One session of a heartbeat matrix (`heartbeat --json`, `latest.matrix.results[]`). */
export interface HeartbeatRowJson {
  intervalSeconds: number | null;
  /** What kind of heartbeat the row sent (`ssh`, `tcp`, …), where the matrix says. */
  kind?: string;
  survived: boolean;
  secondsSurvived: number;
  diedAtSeconds: number | null;
  declaredDeadAtSeconds: number | null;
  cause: string | null;
  heartbeatsSent: number;
  heartbeatsAnswered: number;
  heartbeatsUnanswered: number;
  detail?: string | null;
}

export interface HeartbeatMatrixJson {
  target: string;
  startedAt: string;
  windowSeconds: number;
  countMax: number;
  results: HeartbeatRowJson[];
  lowestFailingIntervalSeconds: number | null;
  highestSurvivingIntervalSeconds: number | null;
  anomalies: string[];
  crossCheck?: { contradictions: string[] };
}

/** The `locate --json` document. */
export interface LocateDocumentJson {
  target: string;
  elapsedSeconds: number;
  pathTimeoutSeconds: number | null;
  hops: { hop: number; address: string | null }[];
  /** `estimateSeconds` is null for a box at or below --min (`belowMin`): only its upper bound is known. */
  boxes: { hop: number; address: string | null; lowerSeconds: number | null; upperSeconds: number; estimateSeconds: number | null; belowMin?: boolean; failureMode: string | null }[];
  hiddenBefore: number | null;
}

/** A run of another kind (matrix, locate) as the target page shows it. */
export interface KindRun<T> {
  finishedAt: string;
  status: string;
  error: string | null;
  result: T | null;
}

/** The passive capture's counters of one `server` label. */
export interface PassiveServerView {
  server: string;
  /** Upper bounds of the idle-age-at-death buckets, seconds. */
  bucketBounds: readonly number[];
  /** Cumulative counts per bucket (Prometheus `le`), as the counters keep them. */
  cumulative: number[];
  count: number;
  connections: Record<string, number>;
  lowerBoundSeconds: number | null;
  upperBoundSeconds: number | null;
}

/** Everything the page of one target shows. */
export interface TargetPageData {
  target: TargetJson;
  /** Measurements in the plotted window, newest first (as the history API lists them). */
  history: HistoryRunJson[];
  /** The window the history covers, days. */
  days: number;
  heartbeat: { configured: boolean; latest: KindRun<HeartbeatMatrixJson> | null; lastAttempt: KindRun<HeartbeatMatrixJson> | null } | null;
  locate: { latest: KindRun<LocateDocumentJson> | null; lastAttempt: KindRun<LocateDocumentJson> | null } | null;
  passive: PassiveServerView | null;
}

/** A target's row of the overview: its JSON and the brackets of its recent runs (sparkline, staleness). */
export interface OverviewRow {
  target: TargetJson;
  /** Recent runs, oldest first: time and each direction's estimate (null when no timeout was found); null while still being read. */
  trend: TrendPoint[] | null;
}

export interface TrendPoint {
  finishedAtMs: number;
  ok: boolean;
  outbound: number | null;
  inbound: number | null;
}

export interface PageInfo {
  version: string;
  reloadOk: boolean;
  /** Epoch ms the page was rendered at (the clock of the daemon). */
  now: number;
  /** Auto-refresh interval, seconds; 0 = off. */
  refreshSeconds: number;
}
