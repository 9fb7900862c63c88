// The cron behind every job kind's schedule: node-cron in production, a hand-ticked one in tests.
import cron from 'node-cron';

export interface CronHandle {
  stop(): void;
  /** Epoch ms of the next tick, when known. */
  nextRunAt(): number | null;
}

export type CronScheduler = (expression: string, onTick: () => void) => CronHandle;

export const nodeCronScheduler: CronScheduler = (expression, onTick) => {
  const task = cron.schedule(expression, () => onTick(), { noOverlap: false });
  return {
    stop: () => void task.destroy(),
    nextRunAt: () => task.getNextRun()?.getTime() ?? null,
  };
};
