// Opening the history file for `serve`, before anything listens: an exclusive lock (two daemons
// on one file would both measure and their reports diverge), an integrity check (a corrupt page
// must stop the start, not surface after the port is open), and a refusal to touch an SQLite file
// that is not an idleprobe history (it is checked read-only, before WAL mode would rewrite it).
// Every failure names the file and the flag that chose it.
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { CategorizedError } from '../errors.ts';
import { HISTORY_TABLES, HistoryStore } from './history.ts';
import type { Logger } from '../log.ts';

export const HISTORY_FLAG = '--history';
export const RESET_CORRUPT_FLAG = '--history.reset-corrupt';

/** A history that cannot be used: exit 2, the message names the file and the flag. */
export class HistoryFileError extends CategorizedError {
  constructor(message: string) {
    super(message, 'invalid_config');
    this.name = 'HistoryFileError';
  }
}

export interface OpenedHistory<S extends HistoryStore = HistoryStore> {
  store: S;
  /** Closes nothing; drops the lock (call after the store is closed). */
  releaseLock(): void;
}

/**
 * An exclusive lock as `FILE.lock` holding the holder's PID, created with O_EXCL. Written by hand:
 * the lock libraries (proper-lockfile) do not record who holds a lock, and the message must name
 * the PID. A lock whose PID is gone (SIGKILL, power cut) is stale and taken over.
 */
export function lockHistory(file: string): () => void {
  // The real path: a symlink to a history another daemon holds must find that daemon's lock.
  const lock = `${realPath(file)}.lock`;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = fs.openSync(lock, 'wx', 0o644);
      fs.writeSync(fd, `${process.pid} ${startTimeOf(process.pid) ?? ''}\n`);
      fs.closeSync(fd);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        try {
          if (fs.readFileSync(lock, 'utf8').trim().split(' ')[0] === String(process.pid)) fs.unlinkSync(lock);
        } catch {
          /* already gone */
        }
      };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST') throw new HistoryFileError(`cannot lock history file ${file} (${HISTORY_FLAG}): cannot create ${lock}: ${code ?? (err as Error).message}`);
      const [pidText, startText] = readOr(lock, '').trim().split(' ');
      const pid = Number.parseInt(pidText ?? '', 10);
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && holds(pid, startText)) {
        throw new HistoryFileError(`history file ${file} (${HISTORY_FLAG}) is in use by another idleprobe serve (PID ${pid}, lock ${lock}); give each daemon its own ${HISTORY_FLAG} file`);
      }
      // Stale (holder gone) or unreadable: take it over.
      fs.rmSync(lock, { force: true });
    }
  }
  throw new HistoryFileError(`cannot lock history file ${file} (${HISTORY_FLAG}): ${lock} keeps reappearing`);
}

function readOr(file: string, fallback: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return fallback;
  }
}

/** The path with every symlink resolved (of its directory when the file does not exist yet). */
function realPath(file: string): string {
  try {
    return fs.realpathSync(file);
  } catch {
    try {
      return path.join(fs.realpathSync(path.dirname(path.resolve(file))), path.basename(file));
    } catch {
      return path.resolve(file);
    }
  }
}

/** A process's start time (clock ticks since boot, /proc/PID/stat field 22); null where there is no /proc. */
function startTimeOf(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

/**
 * Whether the lock's holder still runs: its PID is alive and — where the lock recorded it — is the
 * same process (same start time). After a reboot or a kill -9 the PID may belong to another process
 * by now; that lock is stale.
 */
function holds(pid: number, recordedStart: string | undefined): boolean {
  if (!alive(pid)) return false;
  if (!recordedStart) return true;
  const now = startTimeOf(pid);
  return now === null || now === recordedStart;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** What is wrong with an existing file, checked read-only; null when it is a sound idleprobe history. */
function inspect(file: string): { corrupt: boolean; problem: string } | null {
  let db: Database.Database;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
  } catch (err) {
    return { corrupt: false, problem: openProblem(err) };
  }
  try {
    const check = db.pragma('quick_check', { simple: false }) as { quick_check: string }[];
    const msgs = check.map((r) => r.quick_check).filter((m) => m !== 'ok');
    if (msgs.length > 0) return { corrupt: true, problem: `integrity check failed: ${msgs.slice(0, 3).join('; ')}${msgs.length > 3 ? ` (+${msgs.length - 3} more)` : ''}` };
    const tables = (db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`).all() as { name: string }[]).map((r) => r.name);
    const foreign = tables.filter((t) => !(HISTORY_TABLES as readonly string[]).includes(t));
    // Ours: today's `runs`, or the `measurements` table of a file written before it (migrated on open).
    if (tables.length > 0 && !tables.includes('runs') && !tables.includes('measurements')) {
      return { corrupt: false, problem: `an SQLite database but not an idleprobe history (tables: ${foreign.slice(0, 5).join(', ')}); left untouched` };
    }
    // quick_check sees pages, not our JSON: a row whose result is not JSON would fail later (a 500 on
    // every scrape of the target, or an exit 1 naming nothing). json_valid() checks them in C.
    for (const [table, column] of [['runs', 'result_json'], ['measurements', 'result_json'], ['heartbeat_matrices', 'matrix_json']] as const) {
      if (!tables.includes(table)) continue;
      const bad = db.prepare(`SELECT id FROM ${table} WHERE ${column} IS NOT NULL AND NOT json_valid(${column}) ORDER BY id LIMIT 6`).all() as { id: number }[];
      if (bad.length > 0) {
        const ids = bad.slice(0, 5).map((r) => r.id).join(', ');
        return { corrupt: true, problem: `table ${table}: ${column} of row id ${ids}${bad.length > 5 ? ' (and more)' : ''} is not valid JSON` };
      }
    }
    return null;
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') return { corrupt: true, problem: (err as Error).message };
    return { corrupt: false, problem: openProblem(err) };
  } finally {
    db.close();
  }
}

function openProblem(err: unknown): string {
  const code = (err as { code?: string }).code;
  const msg = (err as Error).message;
  if (code === 'SQLITE_CANTOPEN') return `${msg} (does the directory exist, and may this user read and write it?)`;
  if (code === 'SQLITE_READONLY' || code === 'SQLITE_READONLY_DIRECTORY') return `${msg} (the file or its directory is read-only for this user)`;
  if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') return msg;
  if (code === 'EACCES') return `permission denied`;
  return msg;
}

/**
 * Locks, checks and opens `file` (":memory:" keeps nothing and needs neither). A corrupt file
 * stops the start unless `resetCorrupt`: then it is renamed to FILE.corrupt-<time> (with its WAL
 * and shared-memory files) and a fresh history starts, and the log says so.
 */
export function openHistoryFile<S extends HistoryStore = HistoryStore>(
  file: string,
  opts: { resetCorrupt: boolean; log: Logger; now?: () => number; create?: (file: string) => S },
): OpenedHistory<S> {
  const create = opts.create ?? ((f: string) => new HistoryStore(f) as S);
  if (file === ':memory:') return { store: create(file), releaseLock: () => {} };
  const releaseLock = lockHistory(file);
  try {
    if (fs.existsSync(file) && fs.statSync(file).size > 0) {
      const bad = inspect(file);
      if (bad && bad.corrupt && opts.resetCorrupt) {
        const aside = `${file}.corrupt-${new Date((opts.now ?? Date.now)()).toISOString().replace(/[:.]/g, '-')}`;
        for (const suffix of ['', '-wal', '-shm']) if (fs.existsSync(file + suffix)) fs.renameSync(file + suffix, aside + suffix);
        opts.log.warn(`history file ${file} was corrupt (${bad.problem}); moved it to ${aside} and started a fresh history (${RESET_CORRUPT_FLAG})`);
      } else if (bad) {
        const hint = bad.corrupt ? `; move it aside, or start with ${RESET_CORRUPT_FLAG} to have that done and a fresh history started` : '';
        throw new HistoryFileError(`history file ${file} (${HISTORY_FLAG}): ${bad.problem}${hint}`);
      }
    }
    // A file (or directory) this user cannot write would be accepted by SQLite — it falls back to
    // read-only, and WAL commits can even succeed until a checkpoint — and then lose results: refuse.
    for (const [what, p] of [['', file], [' (its directory, for the -wal/-shm files)', path.dirname(path.resolve(file))]] as const) {
      if (!fs.existsSync(p)) continue;
      try {
        fs.accessSync(p, fs.constants.W_OK);
      } catch (err) {
        throw new HistoryFileError(`history file ${file} (${HISTORY_FLAG}) cannot be written${what}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}; the daemon must write every result`);
      }
    }
    let store: S;
    try {
      store = create(file);
    } catch (err) {
      throw new HistoryFileError(`cannot open history file ${file} (${HISTORY_FLAG}): ${openProblem(err)}`);
    }
    // A history this user cannot write would be accepted and then lose every result: check first.
    try {
      store.checkWritable();
    } catch (err) {
      // Locked by another process (busy) is not "cannot write": the durable store retries those writes.
      const code = (err as { code?: string }).code ?? '';
      if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) return { store, releaseLock };
      store.close();
      throw new HistoryFileError(`history file ${file} (${HISTORY_FLAG}) cannot be written: ${openProblem(err)}`);
    }
    opts.log.debug(`history: opened ${file} (locked by PID ${process.pid})`);
    return { store, releaseLock };
  } catch (err) {
    releaseLock();
    throw err;
  }
}
