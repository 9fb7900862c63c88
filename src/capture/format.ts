// Small formatting helpers shared by the report and the CLI table.

export function formatAddress(family: 4 | 6, words: Uint32Array, port: number): string {
  if (family === 4) {
    const a = words[0];
    return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}:${port}`;
  }
  const groups: string[] = [];
  for (let i = 0; i < 4; i++) groups.push((words[i] >>> 16).toString(16), (words[i] & 0xffff).toString(16));
  // Compress the longest run of zero groups (RFC 5952).
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen && j - i > 1) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const text = best < 0 ? groups.join(':') : `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
  return `[${text}]:${port}`;
}

/** Host part of "addr:port" / "[v6]:port". */
export function hostOf(endpoint: string): string {
  return endpoint.slice(0, endpoint.lastIndexOf(':'));
}

export function isoTime(seconds: number): string {
  return new Date(Math.round(seconds * 1000)).toISOString();
}

/** HH:MM:SS (UTC) for verdict sentences. */
export function clockTime(seconds: number): string {
  return isoTime(seconds).slice(11, 19);
}

/** Seconds rounded for people: 1 decimal below 100 s, whole seconds above. */
export function roundSeconds(s: number): number {
  return s < 100 ? Math.round(s * 10) / 10 : Math.round(s);
}

/** Seconds rounded to milliseconds for JSON. */
export function ms(s: number): number {
  return Math.round(s * 1000) / 1000;
}
