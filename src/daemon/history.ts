// Every finished run of every job kind (measurements, heartbeat matrices, …), kept in one table of an
// embedded SQLite file (better-sqlite3 12), told apart by its `kind` column. WAL mode with
// synchronous=FULL: each insert is one committed transaction fsynced before `record` returns, so a
// SIGKILL (or a power cut) right after it loses nothing. NORMAL would already survive a SIGKILL (the
// WAL is in the OS cache) but not a power cut; measurements finish minutes apart, so the fsync is free.
import Database from 'better-sqlite3';
import type { MeasurementResult } from '../search/types.ts';
import type { HeartbeatMatrix } from '../heartbeat/types.ts';
import type { RunRecord } from '../read-model/read-model.ts';

export type HistoryStatus = 'ok' | 'failed';

/**
 * One finished measurement (kind 'measurement'). `startedAt` ISO 8601, `finishedAtMs` epoch ms,
 * `result` the full result (bracket, mode, probes) when ok; `errorKind` the kind of failure
 * ('unreachable', 'auth', 'host_key', 'protocol', 'error') and `error` its plain words (never a label).
 */
export type HistoryEntry = RunEntry<MeasurementResult>;

export type NewHistoryEntry = NewRunEntry<MeasurementResult>;

/** One finished heartbeat survival matrix (kind 'heartbeat'): `matrix` (with its cross-check against the latest bracket, when there was one) when ok. */
export type HeartbeatEntry = Omit<RunEntry<HeartbeatMatrix>, 'result'> & { matrix: HeartbeatMatrix | null };

export type NewHeartbeatEntry = Omit<NewRunEntry<HeartbeatMatrix>, 'result'> & { matrix?: HeartbeatMatrix | null };

/** A run row of any kind; `result_json` holds the kind's result (a measurement, a matrix). */
interface Row {
  id: number;
  kind: string;
  target: string;
  status: HistoryStatus;
  started_at: string;
  finished_at_ms: number;
  duration_seconds: number;
  result_json: string | null;
  error_kind: string | null;
  error: string | null;
}

/** A stored run of any kind, its result parsed (the read model's RunRecord). */
export type RunEntry<Result = unknown> = RunRecord<Result>;

export type NewRunEntry<Result = unknown> = Omit<RunEntry<Result>, 'id' | 'result' | 'errorKind' | 'error'> & {
  result?: Result | null;
  errorKind?: string | null;
  error?: string | null;
};

/** A new run as stored under `id` (also what a retrying store hands out before the write succeeded). */
export function runEntry<Result>(id: number, e: NewRunEntry<Result>): RunEntry<Result> {
  return {
    id,
    target: e.target,
    status: e.status,
    startedAt: e.startedAt,
    finishedAtMs: Math.round(e.finishedAtMs),
    durationSeconds: e.durationSeconds,
    result: e.result ?? null,
    errorKind: e.errorKind ?? null,
    error: e.error ?? null,
  };
}

/**
 * A row's result; a row whose JSON no longer parses (written by something else while the daemon ran:
 * the start-up check refuses such files) reads as a failed run saying so, never as an exception on
 * every request that reads it.
 */
function fromRow<Result>(r: Row): RunEntry<Result> {
  let result: Result | null;
  try {
    result = r.result_json ? (JSON.parse(r.result_json) as Result) : null;
  } catch {
    return { id: r.id, target: r.target, status: 'failed', startedAt: r.started_at, finishedAtMs: r.finished_at_ms, durationSeconds: r.duration_seconds, result: null, errorKind: 'error', error: `stored result of row ${r.id} is not valid JSON` };
  }
  return {
    id: r.id,
    target: r.target,
    status: r.status,
    startedAt: r.started_at,
    finishedAtMs: r.finished_at_ms,
    durationSeconds: r.duration_seconds,
    result,
    errorKind: r.error_kind,
    error: r.error,
  };
}

/** The run as a HeartbeatEntry: the same object (a pending write gives it its real id later), its result also as `matrix`. */
const asHeartbeat = (e: RunEntry<HeartbeatMatrix>): HeartbeatEntry => Object.assign(e, { matrix: e.result });

/** The tables of a history file, today's and those of files written before the `kind` column (migrated on open). */
export const HISTORY_TABLES = ['runs', 'measurements', 'heartbeat_matrices'] as const;

/** Kinds of the tables a history file had before `runs` (one table per kind). */
const LEGACY_TABLES: Record<string, string> = { measurements: 'measurement', heartbeat_matrices: 'heartbeat' };

export class HistoryStore {
  private readonly db: Database.Database;
  private readonly insertStmt: Database.Statement;
  private readonly listStmt: Database.Statement;
  private readonly latestStmt: Database.Statement;
  private readonly latestOkStmt: Database.Statement;

  /** `file` may be ':memory:' (tests, or no --history given). */
  constructor(readonly file: string) {
    this.db = new Database(file);
    if (file !== ':memory:') this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    // better-sqlite3 is synchronous: a write waiting on a lock blocks the event loop (scrapes
    // included) this long; a write that still fails is retried later (durable-history.ts).
    this.db.pragma('busy_timeout = 1000');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        target TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
        started_at TEXT NOT NULL,
        finished_at_ms INTEGER NOT NULL,
        duration_seconds REAL NOT NULL,
        result_json TEXT,
        error_kind TEXT,
        error TEXT
      );
      CREATE INDEX IF NOT EXISTS runs_by_kind_target ON runs (kind, target, id);
      CREATE INDEX IF NOT EXISTS runs_by_finish ON runs (finished_at_ms);
    `);
    this.migrateLegacyTables();
    this.insertStmt = this.db.prepare(
      `INSERT INTO runs (kind, target, status, started_at, finished_at_ms, duration_seconds, result_json, error_kind, error)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.listStmt = this.db.prepare(`SELECT * FROM runs WHERE kind = ? AND target = ? AND id < ? ORDER BY id DESC LIMIT ?`);
    this.latestStmt = this.db.prepare(`SELECT * FROM runs WHERE kind = ? AND target = ? ORDER BY id DESC LIMIT 1`);
    this.latestOkStmt = this.db.prepare(`SELECT * FROM runs WHERE kind = ? AND target = ? AND status = 'ok' ORDER BY id DESC LIMIT 1`);
  }

  /**
   * A file written before the `kind` column has one table per kind: its rows move into `runs` in one
   * transaction (in place, so the daemon's warm start and `advise --history` keep working), and the old
   * tables go. Measurements keep their ids (the API pages history by id); the other kinds' rows follow
   * them in their own order.
   */
  private migrateLegacyTables(): void {
    const present = (this.db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`).all() as { name: string }[]).map((r) => r.name);
    const legacy = Object.keys(LEGACY_TABLES).filter((t) => present.includes(t));
    if (legacy.length === 0) return;
    this.db.transaction(() => {
      for (const table of legacy) {
        const payload = table === 'measurements' ? 'result_json' : 'matrix_json';
        const id = table === 'measurements' ? 'id' : 'NULL';
        this.db
          .prepare(
            `INSERT INTO runs (id, kind, target, status, started_at, finished_at_ms, duration_seconds, result_json, error_kind, error)
             SELECT ${id}, ?, target, status, started_at, finished_at_ms, duration_seconds, ${payload}, error_kind, error FROM ${table} ORDER BY id`,
          )
          .run(LEGACY_TABLES[table]);
        this.db.exec(`DROP TABLE ${table}`);
      }
    })();
  }

  /** Stores one finished run of `kind`; durable when this returns. */
  recordRun<Result>(kind: string, e: NewRunEntry<Result>): RunEntry<Result> {
    const info = this.insertStmt.run(
      kind,
      e.target,
      e.status,
      e.startedAt,
      Math.round(e.finishedAtMs),
      e.durationSeconds,
      e.result ? JSON.stringify(e.result) : null,
      e.errorKind ?? null,
      e.error ?? null,
    );
    return runEntry(Number(info.lastInsertRowid), e);
  }

  /** The latest run of `kind` (any status) and the latest successful one of a target. */
  latestRun<Result>(kind: string, target: string): { latest: RunEntry<Result> | null; latestOk: RunEntry<Result> | null } {
    const latest = this.latestStmt.get(kind, target) as Row | undefined;
    const ok = this.latestOkStmt.get(kind, target) as Row | undefined;
    return { latest: latest ? fromRow<Result>(latest) : null, latestOk: ok ? fromRow<Result>(ok) : null };
  }

  /** Runs of `kind` of a target, newest first; `beforeId` pages backwards. */
  listRuns<Result>(kind: string, target: string, limit = 50, beforeId = Number.MAX_SAFE_INTEGER): RunEntry<Result>[] {
    return (this.listStmt.all(kind, target, beforeId, limit) as Row[]).map((r) => fromRow<Result>(r));
  }

  /** Stores one finished measurement; durable when this returns. */
  record(e: NewHistoryEntry): HistoryEntry {
    return this.recordRun<MeasurementResult>('measurement', e);
  }

  /** Stores one finished (or failed) heartbeat matrix; durable when this returns. */
  recordHeartbeat(e: NewHeartbeatEntry): HeartbeatEntry {
    const { matrix, ...rest } = e;
    return asHeartbeat(this.recordRun<HeartbeatMatrix>('heartbeat', { ...rest, result: matrix ?? null }));
  }

  /** The latest matrix run (any status) and the latest successful one of a target. */
  latestHeartbeat(target: string): { latest: HeartbeatEntry | null; latestOk: HeartbeatEntry | null } {
    const { latest, latestOk } = this.latestRun<HeartbeatMatrix>('heartbeat', target);
    return { latest: latest ? asHeartbeat(latest) : null, latestOk: latestOk ? asHeartbeat(latestOk) : null };
  }

  /** Measurements, newest first; `beforeId` pages backwards. */
  list(target: string, limit = 50, beforeId = Number.MAX_SAFE_INTEGER): HistoryEntry[] {
    return this.listRuns<MeasurementResult>('measurement', target, limit, beforeId);
  }

  latestOk(target: string): HistoryEntry | null {
    return this.latestRun<MeasurementResult>('measurement', target).latestOk;
  }

  /** The latest measurement (any status) and the latest successful one per target, for a warm start. */
  latestByTarget(): Map<string, { latest: HistoryEntry; latestOk: HistoryEntry | null }> {
    const latestOf = (okOnly: boolean) =>
      this.db
        .prepare(
          `SELECT r.* FROM runs r JOIN (SELECT target, MAX(id) AS id FROM runs WHERE kind = 'measurement'${okOnly ? ` AND status = 'ok'` : ''} GROUP BY target) l ON r.id = l.id`,
        )
        .all() as Row[];
    const ok = new Map(latestOf(true).map((r) => [r.target, fromRow<MeasurementResult>(r)]));
    return new Map(latestOf(false).map((r) => [r.target, { latest: fromRow<MeasurementResult>(r), latestOk: ok.get(r.target) ?? null }]));
  }

  /**
   * Deletes runs that finished before `beforeMs`, except each target's latest successful one of
   * each kind (the warm start needs it however old it is). Returns how many were deleted.
   */
  prune(beforeMs: number): number {
    const info = this.db
      .prepare(
        `DELETE FROM runs WHERE finished_at_ms < ?
           AND id NOT IN (SELECT MAX(id) FROM runs WHERE status = 'ok' GROUP BY kind, target)`,
      )
      .run(Math.round(beforeMs));
    return info.changes;
  }

  /** Throws (SQLITE_READONLY…) when this process cannot write the file: takes and drops a write lock. */
  checkWritable(): void {
    this.db.exec('BEGIN IMMEDIATE');
    this.db.exec('ROLLBACK');
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
