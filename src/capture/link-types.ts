// Link-layer types (LINKTYPE_* from tcpdump.org) the decoder understands, with readable names.

export const LINKTYPE = {
  NULL: 0, // BSD loopback: 4-byte address family in the capturing host's byte order
  ETHERNET: 1,
  RAW: 101, // raw IPv4/IPv6, version from the first nibble
  RAW_OPENBSD: 12, // some libpcap builds write DLT_RAW as 12
  RAW_OPENBSD_14: 14,
  LOOP: 108, // OpenBSD loopback: 4-byte address family, big-endian
  LINUX_SLL: 113,
  IPV4: 228,
  IPV6: 229,
  LINUX_SLL2: 276,
} as const;

const NAMES: Record<number, string> = {
  0: 'NULL',
  1: 'ETHERNET',
  12: 'RAW',
  14: 'RAW',
  101: 'RAW',
  108: 'LOOP',
  113: 'LINUX_SLL',
  228: 'IPV4',
  229: 'IPV6',
  276: 'LINUX_SLL2',
};

export function linkTypeName(linkType: number): string {
  return NAMES[linkType] ?? `LINKTYPE_${linkType}`;
}

export function isSupportedLinkType(linkType: number): boolean {
  return linkType in NAMES;
}
