// Part of the composition root: the daemon seen as the exporter's read model
// (src/read-model/read-model.ts). The exporter depends on that interface only; this is the one
// place that knows both, so the daemon's own API can change without the exporter noticing.
import type { Daemon } from '../daemon/daemon.ts';
import type { ReadModel } from '../read-model/read-model.ts';

export function daemonReadModel(daemon: Daemon): ReadModel {
  return {
    get version() {
      return daemon.version;
    },
    kinds: () => daemon.kinds,
    targets: () => daemon.snapshots(),
    target: (name) => daemon.snapshot(name),
    ownerShardOf: (name) => daemon.ownerShardOf(name),
    shard: daemon.shard,
    history: (key, target, page) => daemon.history.listRuns(key.kind, target, page.limit, page.before),
    hasModule: (name) => Object.hasOwn(daemon.config.modules, name),
    maxUploadBytes: () => daemon.config.global.maxUploadBytes,
    passive: () => daemon.passiveSnapshot(),
    get ready() {
      return daemon.ready;
    },
    get reloadStatus() {
      return daemon.reloadStatus;
    },
    reload: () => daemon.reload(),
    trigger: (target, kind) => daemon.trigger(target, kind),
    runningKind: (target) => daemon.runningKind(target),
  };
}
