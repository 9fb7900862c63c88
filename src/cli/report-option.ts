// `--report FILE.html` for the commands that produce one result (measure, demo, locate, heartbeat,
// analyze): the option, a check of the path before the run starts (a run can take many minutes; a
// path that cannot be written is a usage error now, exit 2, not after the run), and the atomic
// write of the report (a temp file beside it, then rename: a reader never sees half a report).
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import { UsageError } from './errors.ts';
import { VERSION } from '../version.ts';
import type { ReportContext } from '../pictures/report.ts';

/** The report builders, loaded only when a report is asked for (d3 is not every command's start-up cost). */
export type ReportBuilders = typeof import('../pictures/report.ts');

export interface ReportFlags {
  report?: string;
}

/** Adds --report; its path is checked in a preAction hook, before the command's action runs. */
export function addReportOption(cmd: Command): Command {
  cmd.option('--report <file.html>', 'also write a self-contained HTML report of the run (plots and the summary; no script, opens offline)');
  cmd.hook('preAction', (_self, action) => {
    const file: unknown = action.getOptionValue('report');
    if (typeof file === 'string') checkReportPath(file);
  });
  return cmd;
}

/** Throws a UsageError naming the path when a report could not be written there. */
export function checkReportPath(file: string): void {
  if (file.trim() === '') throw new UsageError('--report needs a file name');
  const target = path.resolve(file);
  const dir = path.dirname(target);
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(target);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // ENOENT/ENOTDIR: nothing there yet (or no directory to hold it), said plainly below.
    if (code !== 'ENOENT' && code !== 'ENOTDIR') throw new UsageError(`--report ${file}: ${(err as Error).message}`);
  }
  if (st && !st.isFile()) throw new UsageError(`--report ${file}: exists and is not a regular file`);
  let dirSt: fs.Stats;
  try {
    dirSt = fs.statSync(dir);
  } catch {
    throw new UsageError(`--report ${file}: the directory ${dir} does not exist`);
  }
  if (!dirSt.isDirectory()) throw new UsageError(`--report ${file}: ${dir} is not a directory`);
  // The real test: create (and remove) a file where the temp file will go. access(2) would say yes
  // to root on a read-only file system.
  const probe = tempName(target);
  try {
    fs.closeSync(fs.openSync(probe, 'wx', 0o600));
    fs.unlinkSync(probe);
  } catch (err) {
    throw new UsageError(`--report ${file}: cannot write in ${dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

function tempName(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

/** The command line, for the report's record: argv as typed (flags name files, never secrets). */
export function commandLine(argv: readonly string[] = process.argv.slice(2)): string {
  return ['idleprobe', ...argv].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`)).join(' ');
}

/** Writes the report of a finished run when --report was given: temp file, fsync, rename. */
export async function writeReport(file: string | undefined, summaryText: string, render: (reports: ReportBuilders, ctx: ReportContext) => string): Promise<void> {
  if (file === undefined) return;
  const target = path.resolve(file);
  const reports = await import('../pictures/report.ts');
  const html = render(reports, { command: commandLine(), version: VERSION, generatedAt: new Date(), summaryText });
  const tmp = tempName(target);
  try {
    const fd = fs.openSync(tmp, 'wx', 0o644);
    try {
      fs.writeFileSync(fd, html);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, target);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw new UsageError(`--report ${file}: cannot write the report: ${(err as Error).message}`);
  }
  process.stderr.write(`idleprobe: report written to ${file}\n`);
}
