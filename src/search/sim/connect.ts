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
  connectFails?: ConnectError['kind'] | null;
}

export async function simulatedConnect(stats: ConnectStats, clock: VirtualClock, model: ConnectModel, signal?: AbortSignal): Promise<void> {
  stats.open++;
  stats.maxOpen = Math.max(stats.maxOpen, stats.open);
  try {
    await clock.sleep(model.connectLatencyMs ?? 50, signal);
  } catch (err) {
    stats.open--;
    throw err;
  }
  if (model.connectFails) {
    stats.open--;
    throw new ConnectError(`simulated connect failure (${model.connectFails})`, model.connectFails);
  }
}
