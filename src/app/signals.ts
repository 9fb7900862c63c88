// Signals for `serve`, installed before anything slow happens. SIGHUP (systemd's ExecReload)
// during start-up is queued and replayed as a reload once the daemon runs, instead of killing the
// process (Node's default for an unhandled HUP); SIGTERM/SIGINT during start-up make the start
// stop cleanly at the next step. bin/idleprobe.mjs catches a HUP even earlier, while the modules
// load, and hands it over through EARLY_HUP.
import type { Logger } from '../log.ts';

/** Set by bin/idleprobe.mjs for `serve`: whether a SIGHUP arrived while modules were loading. */
export const EARLY_HUP = Symbol.for('idleprobe.early-sighup');

interface EarlyHup {
  received: boolean;
  uninstall(): void;
}

export class ServeSignals {
  private hupQueued = false;
  private stopSignal: NodeJS.Signals | null = null;
  private onHupNow: (() => void) | null = null;
  private onStopNow: ((signal: NodeJS.Signals) => void) | null = null;

  constructor(private readonly log: Logger) {
    process.on('SIGHUP', this.hup);
    process.on('SIGTERM', this.stop);
    process.on('SIGINT', this.stop);
    const early = (process as unknown as Record<symbol, EarlyHup | undefined>)[EARLY_HUP];
    if (early) {
      if (early.received) this.hupQueued = true;
      early.uninstall();
    }
  }

  private readonly hup = () => {
    if (this.onHupNow) this.onHupNow();
    else {
      this.hupQueued = true;
      this.log.info('SIGHUP during start-up: the reload runs once the daemon has started');
    }
  };

  private readonly stop = (signal: NodeJS.Signals) => {
    if (this.onStopNow) this.onStopNow(signal);
    else {
      this.stopSignal ??= signal;
      this.log.info(`${signal} during start-up: stopping once the start-up step in progress ends`);
    }
  };

  /** A SIGTERM/SIGINT arrived before the service took over. */
  get stopRequested(): NodeJS.Signals | null {
    return this.stopSignal;
  }

  /** From now on HUP calls `onHup` (a queued one at once) and TERM/INT call `onStop`. */
  takeOver(onHup: () => void, onStop: (signal: NodeJS.Signals) => void): void {
    this.onHupNow = onHup;
    this.onStopNow = onStop;
    if (this.stopSignal) onStop(this.stopSignal);
    else if (this.hupQueued) {
      this.hupQueued = false;
      onHup();
    }
  }

  uninstall(): void {
    process.off('SIGHUP', this.hup);
    process.off('SIGTERM', this.stop);
    process.off('SIGINT', this.stop);
  }
}
