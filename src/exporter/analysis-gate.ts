// At most N capture analyses at once (each holds up to its flow cap in memory and CPU); the rest
// are refused with 429 instead of queued, so an upload storm cannot pile up memory. Counts what
// the /metrics endpoint exports about uploads.
import type { AnalysisReport } from '../capture/index.ts';

export interface AnalysisStats {
  inFlight: number;
  finished: number;
  rejected: number;
  flowsEvicted: number;
}

export class AnalysisGate {
  private readonly stats: AnalysisStats = { inFlight: 0, finished: 0, rejected: 0, flowsEvicted: 0 };

  constructor(private readonly max: number) {}

  /** Runs `fn` when a slot is free; null (and a rejection counted) when all are taken. */
  async run(fn: () => Promise<AnalysisReport>): Promise<AnalysisReport | null> {
    if (this.stats.inFlight >= this.max) {
      this.stats.rejected++;
      return null;
    }
    this.stats.inFlight++;
    try {
      const report = await fn();
      this.stats.finished++;
      this.stats.flowsEvicted += report.flowsEvicted.halfOpen + report.flowsEvicted.idle;
      return report;
    } finally {
      this.stats.inFlight--;
    }
  }

  get limit(): number {
    return this.max;
  }

  snapshot(): AnalysisStats {
    return { ...this.stats };
  }
}
