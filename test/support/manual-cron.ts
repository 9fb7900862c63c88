// A CronScheduler for daemon tests that ticks only when the test says so: by expression, or all.
import type { CronScheduler } from '../../src/daemon/runner.ts';

export function manualCron() {
  const jobs = new Map<number, { expr: string; onTick: () => void }>();
  let n = 0;
  const cron: CronScheduler = (expr, onTick) => {
    const id = n++;
    jobs.set(id, { expr, onTick });
    return { stop: () => jobs.delete(id), nextRunAt: () => null };
  };
  return {
    cron,
    /** Fires every scheduled job with expression `expr`. */
    tick: (expr: string) => [...jobs.values()].filter((j) => j.expr === expr).forEach((j) => j.onTick()),
    /** Fires every scheduled job. */
    tickAll: () => [...jobs.values()].forEach((j) => j.onTick()),
    /** The expressions of the jobs scheduled now. */
    exprs: () => [...jobs.values()].map((j) => j.expr),
    /** How many jobs are scheduled now. */
    active: () => jobs.size,
  };
}
