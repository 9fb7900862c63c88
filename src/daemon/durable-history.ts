// A finished result must never be lost because the history write failed (database locked by
// another process, disk full, I/O error). This store keeps the runner's contract — record()
// returns the entry, which the runner keeps in memory and exports — but a failed write no longer
// throws: the entry is queued and written again with exponential back-off (through the injected
// Clock), in order, and every failed attempt is counted (idleprobe_history_write_failures_total).
// Kept in the history layer so the runner stays unaware of it.
import type { Clock } from '../search/types.ts';
import { HistoryStore, runEntry, type NewRunEntry, type RunEntry } from './history.ts';
import type { Logger } from '../log.ts';

export interface RetryPolicy {
  firstDelayMs: number;
  maxDelayMs: number;
  /** Entries held for retry at most; beyond it the oldest is dropped (and logged as lost). */
  maxPending: number;
}

export const DEFAULT_RETRY: RetryPolicy = { firstDelayMs: 1_000, maxDelayMs: 300_000, maxPending: 10_000 };

interface Pending {
  kind: string;
  entry: RunEntry;
}

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

  /** Every kind's write goes through here (record/recordHeartbeat included). */
  override recordRun<Result>(kind: string, e: NewRunEntry<Result>): RunEntry<Result> {
    if (this.pending.length === 0) {
      try {
        return super.recordRun(kind, e);
      } catch (err) {
        this.failed(err, `${kind} of ${e.target}`);
      }
    }
    // As record() would return it, with a temporary negative id until it is written.
    const entry = runEntry(this.nextTempId--, e);
    this.enqueue({ kind, entry: entry });
    return entry;
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
      const head = this.pending[0];
      try {
        const written = super.recordRun(head.kind, head.entry);
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
