// Public entry of the capture analysis: stream in (file, stdin, HTTP upload), report out.
import { batchAnalysis } from './batch-report.ts';
import { readCapture } from './capture-reader.ts';
import type { ByteSource } from './chunked-input.ts';
import { DEFAULT_SCOPE, type ConnectionScope } from './connection-scope.ts';
import type { AnalysisReport } from './report.ts';

export type { AnalysisReport, FlowReport, FlowEnd, IdleTimeoutBracket, Incomplete, PathReport } from './report.ts';
export { CaptureFormatError } from './errors.ts';
export { readCapture } from './capture-reader.ts';
export { FlowStore } from './flow-store.ts';
export { BatchReport, batchAnalysis } from './batch-report.ts';
export { LiveTracker, liveAnalysis } from './live-tracker.ts';
export { DEFAULT_SCOPE, parseScope, type ConnectionScope } from './connection-scope.ts';
export { DEFAULT_MAX_LIVE_FLOWS, DEFAULT_MAX_FLOWS_LISTED } from './limits.ts';

export interface AnalyzeOptions {
  /** Which connections: 'ssh' by their banner on any port (the default), 'all', or `{ port }`. */
  scope?: ConnectionScope;
  /** Stop after this many packets (the report says so); default unlimited. */
  maxPackets?: number;
  /** Flows listed in the report (default 1000; all are counted). */
  maxFlows?: number;
  /** Connections held at once (default DEFAULT_MAX_LIVE_FLOWS); beyond it some are evicted, counted. */
  maxLiveFlows?: number;
  /** Stops reading; the report covers what was read and says it was interrupted. */
  signal?: AbortSignal;
  /** A stop was asked for: reading goes on until `signal` or the end, and the report says interrupted. */
  stopRequested?: AbortSignal;
}

/**
 * Reads a pcap/pcapng stream (gzip-compressed or not) with back-pressure and analyses its TCP
 * connections. A stream cut short or interrupted still gives a report (its `incomplete` says why);
 * rejects with CaptureFormatError (exitCode 4, byte offset, packets read) on bad input.
 */
export async function analyzeStream(input: NodeJS.ReadableStream | AsyncIterable<Buffer>, opts: AnalyzeOptions = {}): Promise<AnalysisReport> {
  const { store, report } = batchAnalysis({ scope: opts.scope ?? DEFAULT_SCOPE, maxFlows: opts.maxFlows, maxLiveFlows: opts.maxLiveFlows });
  const end = await readCapture(input as ByteSource, store, { maxPackets: opts.maxPackets ?? Number.POSITIVE_INFINITY, signal: opts.signal, stopRequested: opts.stopRequested });
  return report.reportInTurns(end);
}
