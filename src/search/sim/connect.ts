// One simulated connect, shared by the single-middlebox and the multi-box simulators: count it,
// wait the model's connect latency on the virtual clock, fail it if the model says so.
import { ConnectError } from '../types.ts';
import type { VirtualClock } from './virtual-clock.ts';

export interface ConnectStats {
  connects: number;
  open: number;
  maxOpen: number;
}

export interface ConnectModel {
  connectLatencyMs?: number;
  /**
   * Replayed latencies: the i-th connect (in the order started) takes entry i, ms (null or past the
   * end: connectLatencyMs), e.g. the `connectsMs` a real run reported, so logins that queued on a
   * busy CPU are replayed as they happened.
   */
  connectLatenciesMs?: readonly (number | null)[];
  connectFails?: ConnectError['kind'] | null;
}

/** `stats.connects` already counts this connect. */
export async function simulatedConnect(stats: ConnectStats, clock: VirtualClock, model: ConnectModel, signal?: AbortSignal): Promise<void> {
  const latencyMs = model.connectLatenciesMs?.[stats.connects - 1] ?? model.connectLatencyMs ?? 50;
  stats.open++;
  stats.maxOpen = Math.max(stats.maxOpen, stats.open);
  try {
    await clock.sleep(latencyMs, signal);
  } catch (err) {
    stats.open--;
    throw err;
  }
  if (model.connectFails) {
    stats.open--;
    throw new ConnectError(`simulated connect failure (${model.connectFails})`, model.connectFails);
  }
}
