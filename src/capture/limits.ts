// The capture analysis' resource bounds, in one place: the CLI flags and the daemon's upload route
// take their defaults from here.

/**
 * Connections whose state is held at once. Each costs ~1.7 KiB live, and about as much again in
 * garbage the GC has not yet collected, so at this cap `analyze` of any capture (a flood of
 * millions of SYN-only flows included) peaks under 300 MiB RSS (test/bench/capture-flood.bench.ts).
 * Beyond it the ended, then half-open, then longest-idle connections are evicted, counted in the
 * report. Ten thousand connections alive at once on one port is far above what one SSH host sees.
 */
export const DEFAULT_MAX_LIVE_FLOWS = 10_000;

/** Paths (client host → server) given their own bracket and verdict; later ones count only overall. */
export const DEFAULT_MAX_PATHS = 1_000;

/** Connections listed one by one in the report (all are counted). */
export const DEFAULT_MAX_FLOWS_LISTED = 1_000;
