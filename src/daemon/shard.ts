// Sharding of the configured targets over N daemon replicas (`serve --shard i/n`, contract in
// docs/deploy.md): shard(name) = fnv1a32(utf8(name)) mod n. A stable hash of the name, not of its
// position in the list, so adding or removing a target moves no other target. Pure.

export interface Shard {
  /** 0 ≤ index < count */
  index: number;
  count: number;
}

/** The default: one replica owns every target. */
export const ALL_TARGETS: Shard = { index: 0, count: 1 };

const FNV_OFFSET_BASIS = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** FNV-1a, 32 bit, over the UTF-8 bytes of `text`; an unsigned 32-bit integer. */
export function fnv1a32(text: string): number {
  let hash = FNV_OFFSET_BASIS;
  for (const byte of new TextEncoder().encode(text)) {
    hash ^= byte;
    // Math.imul keeps the multiplication in 32 bits (a plain * would lose precision past 2^53).
    hash = Math.imul(hash, FNV_PRIME);
  }
  return hash >>> 0;
}

/** Index of the shard that owns target `name` among `count` shards. */
export function shardOf(name: string, count: number): number {
  return fnv1a32(name) % count;
}

export function ownsTarget(shard: Shard, name: string): boolean {
  return shard.count === 1 || shardOf(name, shard.count) === shard.index;
}

/** Parses "i/n" (e.g. "2/5"). Throws RangeError saying what is wrong. */
export function parseShard(text: string, flag = '--shard'): Shard {
  const m = /^\s*(\d{1,6})\s*\/\s*(\d{1,6})\s*$/.exec(text);
  if (!m) throw new RangeError(`${flag}: ${JSON.stringify(text)} is not of the form i/n (e.g. 0/3: this replica is shard 0 of 3)`);
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (count < 1) throw new RangeError(`${flag}: the shard count n must be at least 1 (got ${JSON.stringify(text)})`);
  if (index >= count) throw new RangeError(`${flag}: the shard index must be below the count, 0 ≤ i < ${count} (got ${JSON.stringify(text)})`);
  return { index, count };
}

export function formatShard(shard: Shard): string {
  return `${shard.index}/${shard.count}`;
}
