// The production cron adapter (src/daemon/cron.ts): a target's next run time is node-cron's, worked
// out once and kept until it has passed — GET /api/targets and the pages ask for every target's on
// every rendering, and node-cron computes it afresh each time (tens of ms for 1,000 targets).
import { afterEach, describe, expect, it, vi } from 'vitest';
import cron from 'node-cron';
import { nodeCronScheduler, type CronHandle } from '../../src/daemon/cron.ts';

describe('nodeCronScheduler', () => {
  const handles: CronHandle[] = [];
  afterEach(() => {
    for (const h of handles.splice(0)) h.stop();
    vi.restoreAllMocks();
  });

  /** The adapter's handle and the node-cron task under it (to count its next-run computations). */
  function schedule(expression: string, onTick: () => void = () => {}) {
    const original = cron.schedule.bind(cron);
    let task: ReturnType<typeof cron.schedule> | null = null;
    vi.spyOn(cron, 'schedule').mockImplementationOnce((...args: Parameters<typeof cron.schedule>) => (task = original(...args)));
    const handle = nodeCronScheduler(expression, onTick);
    handles.push(handle);
    return { handle, getNextRun: vi.spyOn(task!, 'getNextRun') };
  }

  it("is node-cron's next match, computed once while it lies ahead", () => {
    const { handle, getNextRun } = schedule('0 0 1 1 *');
    const first = handle.nextRunAt();
    const expected = new Date(new Date().getFullYear() + 1, 0, 1, 0, 0, 0).getTime();
    expect(first).toBe(expected);
    for (let i = 0; i < 1000; i++) expect(handle.nextRunAt()).toBe(first);
    expect(getNextRun).toHaveBeenCalledTimes(1);
  });

  it('moves on once the run has come (at its tick), and is null once stopped', async () => {
    let handle: CronHandle | null = null;
    const seen: [number | null, number | null][] = [];
    let before: number | null = null;
    const ticked = new Promise<void>((resolve) => {
      // Every second: the first tick comes within one.
      ({ handle } = schedule('* * * * * *', () => {
        seen.push([before, handle!.nextRunAt()]);
        resolve();
      }));
    });
    before = handle!.nextRunAt();
    await ticked;
    const [was, now] = seen[0];
    expect(was).not.toBeNull();
    expect(now).toBeGreaterThan(was!);
    handle!.stop();
    expect(handle!.nextRunAt()).toBeNull();
  });
});
