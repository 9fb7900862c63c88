// Every finished measurement, kept in an embedded SQLite file (better-sqlite3 12). WAL mode with
// synchronous=FULL: each insert is one committed transaction fsynced before `record` returns, so a
// SIGKILL (or a power cut) right after it loses nothing. NORMAL would already survive a SIGKILL (the
// WAL is in the OS cache) but not a power cut; measurements finish minutes apart, so the fsync is free.
import Database from 'better-sqlite3';
import type { MeasurementResult } from '../search/types.ts';
import type { HeartbeatMatrix } from '../heartbeat/types.ts';

export type HistoryStatus = 'ok' | 'failed';

export interface HistoryEntry {
  id: number;
  target: string;
  status: HistoryStatus;
  /** ISO 8601 start of the measurement. */
  startedAt: string;
  /** Epoch ms at which it finished. */
  finishedAtMs: number;
  durationSeconds: number;
  /** The full result (bracket, mode, probes) when status is ok. */
  result: MeasurementResult | null;
  /** Kind of failure when status is failed ('unreachable', 'auth', 'host_key', 'protocol', 'error'). */
  errorKind: string | null;
  /** Plain-words failure message (never a metric label). */
  error: string | null;
}

export interface NewHistoryEntry {
  target: string;
  status: HistoryStatus;
  startedAt: string;
  finishedAtMs: number;
  durationSeconds: number;
  result?: MeasurementResult | null;
  errorKind?: string | null;
  error?: string | null;
}

interface Row {
  id: number;
  target: string;
  status: HistoryStatus;
  started_at: string;
  finished_at_ms: number;
  duration_seconds: number;
  result_json: string | null;
  error_kind: string | null;
  error: string | null;
}

/** One finished heartbeat survival matrix (table heartbeat_matrices). */
export interface HeartbeatEntry {
  id: number;
  target: string;
  status: HistoryStatus;
  startedAt: string;
  finishedAtMs: number;
  durationSeconds: number;
  /** The matrix (with its cross-check against the latest bracket, when there was one) when ok. */
  matrix: HeartbeatMatrix | null;
  errorKind: string | null;
  error: string | null;
}

export type NewHeartbeatEntry = Omit<HeartbeatEntry, 'id' | 'matrix' | 'errorKind' | 'error'> & {
  matrix?: HeartbeatMatrix | null;
  errorKind?: string | null;
  error?: string | null;
};

interface HeartbeatRow extends Omit<Row, 'result_json'> {
  matrix_json: string | null;
}

function fromHeartbeatRow(r: HeartbeatRow): HeartbeatEntry {
  return {
    id: r.id,
    target: r.target,
    status: r.status,
    startedAt: r.started_at,
    finishedAtMs: r.finished_at_ms,
    durationSeconds: r.duration_seconds,
    matrix: r.matrix_json ? (JSON.parse(r.matrix_json) as HeartbeatMatrix) : null,
    errorKind: r.error_kind,
    error: r.error,
  };
}

function fromRow(r: Row): HistoryEntry {
  return {
    id: r.id,
    target: r.target,
    status: r.status,
    startedAt: r.started_at,
    finishedAtMs: r.finished_at_ms,
    durationSeconds: r.duration_seconds,
    result: r.result_json ? (JSON.parse(r.result_json) as MeasurementResult) : null,
    errorKind: r.error_kind,
    error: r.error,
  };
}

export class HistoryStore {
  private readonly db: Database.Database;
  private readonly insertStmt: Database.Statement;
  private readonly listStmt: Database.Statement;
  private readonly latestOkStmt: Database.Statement;
  private readonly insertHeartbeatStmt: Database.Statement;
  private readonly latestHeartbeatStmt: Database.Statement;
  private readonly latestOkHeartbeatStmt: Database.Statement;

  /** `file` may be ':memory:' (tests, or no --history given). */
  constructor(readonly file: string) {
    this.db = new Database(file);
    if (file !== ':memory:') this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    // better-sqlite3 is synchronous: a write waiting on a lock blocks the event loop (scrapes
    // included) this long; a write that still fails is retried later (durable-history.ts).
    this.db.pragma('busy_timeout = 1000');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS measurements (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        target TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
        started_at TEXT NOT NULL,
        finished_at_ms INTEGER NOT NULL,
        duration_seconds REAL NOT NULL,
        result_json TEXT,
        error_kind TEXT,
        error TEXT
      );
      CREATE INDEX IF NOT EXISTS measurements_by_target ON measurements (target, id);
      CREATE INDEX IF NOT EXISTS measurements_by_finish ON measurements (finished_at_ms);
      CREATE TABLE IF NOT EXISTS heartbeat_matrices (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        target TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
        started_at TEXT NOT NULL,
        finished_at_ms INTEGER NOT NULL,
        duration_seconds REAL NOT NULL,
        matrix_json TEXT,
        error_kind TEXT,
        error TEXT
      );
      CREATE INDEX IF NOT EXISTS heartbeat_matrices_by_target ON heartbeat_matrices (target, id);
      CREATE INDEX IF NOT EXISTS heartbeat_matrices_by_finish ON heartbeat_matrices (finished_at_ms);
    `);
    this.insertStmt = this.db.prepare(
      `INSERT INTO measurements (target, status, started_at, finished_at_ms, duration_seconds, result_json, error_kind, error)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.listStmt = this.db.prepare(`SELECT * FROM measurements WHERE target = ? AND id < ? ORDER BY id DESC LIMIT ?`);
    this.latestOkStmt = this.db.prepare(
      `SELECT * FROM measurements WHERE target = ? AND status = 'ok' ORDER BY id DESC LIMIT 1`,
    );
    this.insertHeartbeatStmt = this.db.prepare(
      `INSERT INTO heartbeat_matrices (target, status, started_at, finished_at_ms, duration_seconds, matrix_json, error_kind, error)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.latestHeartbeatStmt = this.db.prepare(`SELECT * FROM heartbeat_matrices WHERE target = ? ORDER BY id DESC LIMIT 1`);
    this.latestOkHeartbeatStmt = this.db.prepare(`SELECT * FROM heartbeat_matrices WHERE target = ? AND status = 'ok' ORDER BY id DESC LIMIT 1`);
  }

  /** Stores one finished measurement; durable when this returns. */
  record(e: NewHistoryEntry): HistoryEntry {
    const info = this.insertStmt.run(
      e.target,
      e.status,
      e.startedAt,
      Math.round(e.finishedAtMs),
      e.durationSeconds,
      e.result ? JSON.stringify(e.result) : null,
      e.errorKind ?? null,
      e.error ?? null,
    );
    return {
      id: Number(info.lastInsertRowid),
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

  /** Stores one finished (or failed) heartbeat matrix; durable when this returns. */
  recordHeartbeat(e: NewHeartbeatEntry): HeartbeatEntry {
    const info = this.insertHeartbeatStmt.run(e.target, e.status, e.startedAt, Math.round(e.finishedAtMs), e.durationSeconds, e.matrix ? JSON.stringify(e.matrix) : null, e.errorKind ?? null, e.error ?? null);
    return {
      id: Number(info.lastInsertRowid),
      target: e.target,
      status: e.status,
      startedAt: e.startedAt,
      finishedAtMs: Math.round(e.finishedAtMs),
      durationSeconds: e.durationSeconds,
      matrix: e.matrix ?? null,
      errorKind: e.errorKind ?? null,
      error: e.error ?? null,
    };
  }

  /** The latest matrix run (any status) and the latest successful one of a target. */
  latestHeartbeat(target: string): { latest: HeartbeatEntry | null; latestOk: HeartbeatEntry | null } {
    const latest = this.latestHeartbeatStmt.get(target) as HeartbeatRow | undefined;
    const ok = this.latestOkHeartbeatStmt.get(target) as HeartbeatRow | undefined;
    return { latest: latest ? fromHeartbeatRow(latest) : null, latestOk: ok ? fromHeartbeatRow(ok) : null };
  }

  /** Newest first; `beforeId` pages backwards. */
  list(target: string, limit = 50, beforeId = Number.MAX_SAFE_INTEGER): HistoryEntry[] {
    return (this.listStmt.all(target, beforeId, limit) as Row[]).map(fromRow);
  }

  latestOk(target: string): HistoryEntry | null {
    const row = this.latestOkStmt.get(target) as Row | undefined;
    return row ? fromRow(row) : null;
  }

  /** The latest entry (any status) and the latest successful one per target, for a warm start. */
  latestByTarget(): Map<string, { latest: HistoryEntry; latestOk: HistoryEntry | null }> {
    const rows = this.db
      .prepare(`SELECT m.* FROM measurements m JOIN (SELECT target, MAX(id) AS id FROM measurements GROUP BY target) l ON m.id = l.id`)
      .all() as Row[];
    const okRows = this.db
      .prepare(
        `SELECT m.* FROM measurements m JOIN (SELECT target, MAX(id) AS id FROM measurements WHERE status = 'ok' GROUP BY target) l ON m.id = l.id`,
      )
      .all() as Row[];
    const ok = new Map(okRows.map((r) => [r.target, fromRow(r)]));
    return new Map(rows.map((r) => [r.target, { latest: fromRow(r), latestOk: ok.get(r.target) ?? null }]));
  }

  /**
   * Deletes entries that finished before `beforeMs`, except each target's latest successful one
   * (the warm start needs it however old it is). Returns how many were deleted.
   */
  prune(beforeMs: number): number {
    let deleted = 0;
    for (const table of ['measurements', 'heartbeat_matrices']) {
      const info = this.db
        .prepare(
          `DELETE FROM ${table} WHERE finished_at_ms < ?
             AND id NOT IN (SELECT MAX(id) FROM ${table} WHERE status = 'ok' GROUP BY target)`,
        )
        .run(Math.round(beforeMs));
      deleted += info.changes;
    }
    return deleted;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
