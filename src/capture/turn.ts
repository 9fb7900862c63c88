// One turn of the event loop (after pending I/O): long pieces of analysis work call it between
// batches so a daemon analysing an upload still answers /metrics. Not a delay: no time passes.
export const nextTurn = (): Promise<void> => new Promise<void>((resolve) => setImmediate(resolve));
