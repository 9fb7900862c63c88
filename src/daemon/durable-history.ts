// A finished result must never be lost because the history write failed (database locked by
// another process, disk full, I/O error). This store keeps the runner's contract — record()
// returns the entry, which the runner keeps in memory and exports — but a failed write no longer
// throws: the entry is queued and written again with exponential back-off (through the injected
// Clock), in order, and every failed attempt is counted (idleprobe_history_write_failures_total).
// Kept in the history layer so the runner stays unaware of it.
import type { Clock } from '../search/types.ts';
import { HistoryStore, type HeartbeatEntry, type HistoryEntry, type NewHeartbeatEntry, type NewHistoryEntry } from './history.ts';
import type { Logger } from './log.ts';

export interface RetryPolicy {
  firstDelayMs: number;
  maxDelayMs: number;
  /** Entries held for retry at most; beyond it the oldest is dropped (and logged as lost). */
  maxPending: number;
}

export const DEFAULT_RETRY: RetryPolicy = { firstDelayMs: 1_000, maxDelayMs: 300_000, maxPending: 10_000 };

type Pending = { kind: 'measurement'; entry: HistoryEntry } | { kind: 'heartbeat'; entry: HeartbeatEntry };

export class DurableHistoryStore extends HistoryStore {
  private readonly pending: Pending[] = [];
  private failures = 0;
  private retrying: Promise<void> | null = null;
  private readonly abort = new AbortController();
  private nextTempId = -1;

  constructor(
    file: string,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly policy: RetryPolicy = DEFAULT_RETRY,
  ) {
    super(file);
  }

  /** Failed write attempts since start (first attempts and retries). */
  get writeFailures(): number {
    return this.failures;
  }

  /** Results held in memory, waiting for a successful write. */
  get pendingWrites(): number {
    return this.pending.length;
  }

  override record(e: NewHistoryEntry): HistoryEntry {
    if (this.pending.length === 0) {
      try {
        return super.record(e);
      } catch (err) {
        this.failed(err, `measurement of ${e.target}`);
      }
    }
    const entry = this.inMemory(e, { result: e.result ?? null });
    this.enqueue({ kind: 'measurement', entry });
    return entry;
  }

  override recordHeartbeat(e: NewHeartbeatEntry): HeartbeatEntry {
    if (this.pending.length === 0) {
      try {
        return super.recordHeartbeat(e);
      } catch (err) {
        this.failed(err, `heartbeat matrix of ${e.target}`);
      }
    }
    const entry = this.inMemory(e, { matrix: e.matrix ?? null });
    this.enqueue({ kind: 'heartbeat', entry });
    return entry;
  }

  /** An entry as record() would return it, with a temporary negative id until it is written. */
  private inMemory<T extends object>(e: NewHistoryEntry | NewHeartbeatEntry, payload: T) {
    return {
      id: this.nextTempId--,
      target: e.target,
      status: e.status,
      startedAt: e.startedAt,
      finishedAtMs: Math.round(e.finishedAtMs),
      durationSeconds: e.durationSeconds,
      errorKind: e.errorKind ?? null,
      error: e.error ?? null,
      ...payload,
    } as unknown as HistoryEntry & HeartbeatEntry;
  }

  private failed(err: unknown, what: string): void {
    this.failures++;
    this.log.error(`history: writing the ${what} to ${this.file} failed (${(err as Error).message}); the result is kept in memory and exported, the write is retried`);
  }

  private enqueue(p: Pending): void {
    this.pending.push(p);
    if (this.pending.length > this.policy.maxPending) {
      const lost = this.pending.shift()!;
      this.log.error(`history: ${this.policy.maxPending} results wait for ${this.file}; the oldest (${lost.entry.target}, ${lost.entry.startedAt}) is dropped`);
    }
    this.retrying ??= this.retryLoop().finally(() => (this.retrying = null));
  }

  /** Writes the queue in order; a failure waits (doubling, capped) and tries the head again. */
  private async retryLoop(): Promise<void> {
    let delay = this.policy.firstDelayMs;
    while (this.pending.length > 0 && !this.abort.signal.aborted) {
      try {
        await this.clock.sleep(delay, this.abort.signal);
      } catch {
        return;
      }
      if (!this.flushOnce()) delay = Math.min(this.policy.maxDelayMs, delay * 2);
      else delay = this.policy.firstDelayMs;
    }
  }

  /** Writes queued entries until one fails; true when the queue is empty. */
  private flushOnce(): boolean {
    while (this.pending.length > 0) {
      const head = this.pending[0]!;
      try {
        const written = head.kind === 'measurement' ? super.record(head.entry) : super.recordHeartbeat(head.entry);
        // The runner holds this very object: it gets its real id.
        head.entry.id = written.id;
        this.pending.shift();
      } catch (err) {
        this.failures++;
        this.log.warn(`history: retrying the write to ${this.file} failed (${(err as Error).message}); ${this.pending.length} result(s) wait in memory`);
        return false;
      }
    }
    this.log.info(`history: pending results written to ${this.file}`);
    return true;
  }

  override close(): void {
    this.abort.abort();
    if (this.pending.length > 0 && !this.flushOnce()) {
      this.log.error(`history: ${this.pending.length} result(s) could not be written to ${this.file} before shutdown and are lost`);
    }
    super.close();
  }
}
