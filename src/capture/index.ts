// Public entry of the capture analysis: stream in (file, stdin, HTTP upload), report out.
import { CaptureAnalyzer, type AnalyzerOptions } from './analyzer.ts';
import { readCapture } from './capture-reader.ts';
import type { ByteSource } from './chunked-input.ts';
import type { ConnectionScope } from './connection-scope.ts';
import type { AnalysisReport } from './report.ts';

export type { AnalysisReport, FlowReport, FlowEnd, IdleTimeoutBracket, PathReport } from './report.ts';
export { CaptureFormatError } from './errors.ts';
export { CaptureAnalyzer } from './analyzer.ts';
export { readCapture } from './capture-reader.ts';
export type { ConnectionScope } from './connection-scope.ts';
export { DEFAULT_MAX_LIVE_FLOWS, DEFAULT_MAX_FLOWS_LISTED } from './limits.ts';

export interface AnalyzeOptions {
  /** Only connections with this port on either side (e.g. 22); omit for every TCP connection. */
  port?: number;
  /** 'ssh': only SSH connections, recognised by their banner on any port (overrides `port`). */
  scope?: ConnectionScope;
  /** Stop after this many packets (the report says so); default unlimited. */
  maxPackets?: number;
  /** Flows listed in the report (default 1000; all are counted). */
  maxFlows?: number;
  /** Connections held at once (default DEFAULT_MAX_LIVE_FLOWS); beyond it some are evicted, counted. */
  maxLiveFlows?: number;
}

/**
 * Reads a pcap/pcapng stream with back-pressure and analyses every TCP connection in it.
 * Rejects with CaptureFormatError (exitCode 4, byte offset, packets read) on bad input.
 */
export async function analyzeStream(input: NodeJS.ReadableStream | AsyncIterable<Buffer>, opts: AnalyzeOptions = {}): Promise<AnalysisReport> {
  const analyzer = new CaptureAnalyzer({ port: opts.port ?? null, scope: opts.scope, maxFlows: opts.maxFlows, maxLiveFlows: opts.maxLiveFlows } satisfies AnalyzerOptions);
  const maxPackets = opts.maxPackets ?? Number.POSITIVE_INFINITY;
  const read = await readCapture(input as ByteSource, analyzer, { maxPackets });
  analyzer.truncatedAtMaxPackets = read >= maxPackets;
  return analyzer.reportInTurns();
}
