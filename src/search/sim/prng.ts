// Seeded PRNG for the simulator and the benchmark.
// Why our own: Math.random cannot be seeded, and a benchmark or a failing test must replay exactly.
// mulberry32 is tiny, fast, passes the usual statistical smoke tests, and its 32-bit state is
// plenty for drawing timeouts, jitter and packet loss (we need reproducibility, not cryptography).
export type Rng = () => number;

export function mulberry32(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Uniform in [lo, hi). */
export function uniform(rng: Rng, lo: number, hi: number): number {
  return lo + (hi - lo) * rng();
}

/** Log-uniform in [lo, hi). */
export function logUniform(rng: Rng, lo: number, hi: number): number {
  return Math.exp(uniform(rng, Math.log(lo), Math.log(hi)));
}
