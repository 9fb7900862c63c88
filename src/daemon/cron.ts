// The cron behind every job kind's schedule: node-cron in production, a hand-ticked one in tests.
import cron from 'node-cron';
import { realClock } from '../search/clock.ts';

export interface CronHandle {
  stop(): void;
  /** Epoch ms of the next tick, when known. */
  nextRunAt(): number | null;
}

export type CronScheduler = (expression: string, onTick: () => void) => CronHandle;

export const nodeCronScheduler: CronScheduler = (expression, onTick) => {
  // node-cron works the next match out afresh on every call (~0.05–0.3 ms, its time-zone handling):
  // GET /api/targets and the pages ask for every target's, so 1,000 targets cost tens of ms a
  // render. The next run only moves once it has come: kept until then (or until the tick).
  let next: number | null | undefined;
  let stopped = false;
  const task = cron.schedule(
    expression,
    () => {
      next = undefined;
      onTick();
    },
    { noOverlap: false },
  );
  return {
    stop: () => {
      stopped = true;
      next = null;
      void task.destroy();
    },
    nextRunAt: () => {
      if (stopped) return null;
      if (next === undefined || next === null || realClock.now() >= next) next = task.getNextRun()?.getTime() ?? null;
      return next;
    },
  };
};
