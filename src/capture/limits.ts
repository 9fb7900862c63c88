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

/**
 * Interface descriptions held per pcapng section. A capture describes one per interface it was
 * taken on (a handful; `-i any` on a host with thousands of veths stays far below); beyond this the
 * file is refused at the offending block, whatever it costs to describe them (16-bit is also the
 * range of the obsolete Packet Block's interface field).
 */
export const MAX_PCAPNG_INTERFACES = 65_536;

/**
 * Largest expansion of a gzip-compressed capture (decompressed / compressed bytes, plus 1 MiB).
 * Real captures compress 2–7× (the lab's 1.8–4.1×, a SYN flood 6.5×); zeros compress ~1000×, so
 * without a bound a 256 MiB upload could make the daemon analyse 256 GB.
 */
export const MAX_GZIP_EXPANSION = 64;
