// Connects the daemon to the real prober and capture analyser. Kept apart from the scheduler so
// unit tests inject their own measure function and the scheduler never imports ssh2.
import type { Readable } from 'node:stream';
import { realClock } from '../search/clock.ts';
import { SshSessionOpener } from '../probe/opener.ts';
import { loadCredentials, loadHostKeyPolicy } from '../probe/credentials.ts';
import type { MeasureFn, OpenerFactory } from './runner.ts';
import { analyzeStream, type AnalysisReport } from '../capture/index.ts';

/** Sentinel sessions: the prober's own opener (same host key checks and auth as a measurement). */
export const sshOpenerFactory: OpenerFactory = (spec, opts) =>
  new SshSessionOpener(spec, {
    clock: realClock,
    credentials: loadCredentials(spec),
    hostKeys: loadHostKeyPolicy(spec),
    ...(opts.connectTimeoutMs !== undefined ? { connectTimeoutMs: opts.connectTimeoutMs } : {}),
    ...(opts.silentDeadlineFloorMs !== undefined ? { silentFloorMs: opts.silentDeadlineFloorMs } : {}),
  });

// Loaded by name at run time so this file type-checks while the prober's entry point is written
// in parallel; the error says which module is missing.
async function importExport<T>(specifier: string, name: string): Promise<T> {
  const mod = (await import(specifier)) as Record<string, unknown>;
  const fn = mod[name];
  if (typeof fn !== 'function') throw new Error(`${specifier} does not export ${name}()`);
  return fn as T;
}

export function loadMeasureTarget(): Promise<MeasureFn> {
  return importExport<MeasureFn>('../probe/measure.ts', 'measureTarget');
}

/** POST /api/analyze: the capture analyser, reading the upload stream with back-pressure. */
export const analyzeUpload = (input: Readable, opts: { port: number }): Promise<AnalysisReport> => analyzeStream(input, { port: opts.port });
