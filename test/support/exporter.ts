// The exporter's dependencies for a daemon under test, wired as the composition root does
// (src/app/service.ts): the daemon seen as the read model, and a /metrics renderer over it.
import type { Daemon } from '../../src/daemon/daemon.ts';
import { daemonReadModel } from '../../src/app/read-model.ts';
import { MetricsRenderer } from '../../src/exporter/metrics.ts';
import type { ReadModel } from '../../src/read-model/read-model.ts';

export function exporterOf(daemon: Daemon, now?: () => number): { model: ReadModel; renderer: MetricsRenderer } {
  const model = daemonReadModel(daemon);
  return { model, renderer: new MetricsRenderer(model, now) };
}
