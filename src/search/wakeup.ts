// A one-shot-at-a-time signal: the search loop sleeps until a timer or any event (probe answer,
// connect done, abort) calls `notify()`.
export class Wakeup {
  private resolve: (() => void) | null = null;
  private promise: Promise<void> | null = null;
  private flagged = false;

  notify(): void {
    this.flagged = true;
    const r = this.resolve;
    this.resolve = null;
    this.promise = null;
    r?.();
  }

  /** Resolves at the next notify(), or at once if one happened since the last wait. */
  wait(): Promise<void> {
    if (this.flagged) {
      this.flagged = false;
      return Promise.resolve();
    }
    if (!this.promise) this.promise = new Promise<void>((r) => (this.resolve = r));
    return this.promise.then(() => {
      this.flagged = false;
    });
  }
}
