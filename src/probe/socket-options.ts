// The socket options `locate` and `heartbeat`'s tcp: rows need and Node does not expose: SO_KEEPALIVE
// with TCP_KEEPIDLE / TCP_KEEPINTVL / TCP_KEEPCNT, IP_TTL / IPV6_UNICAST_HOPS on a probe socket, and a
// TCP traceroute (a SYN with a small TTL, IP_RECVERR, the ICMP time-exceeded read from the socket's
// error queue). (Node's own setKeepAlive(true, delay) sets TCP_KEEPIDLE only: the interval and the
// count stay the system's, 75 s × 9 on Linux — not the timing a tcp:N row asks for.)
//
// Why koffi: it is a maintained FFI that ships prebuilt binaries for every platform (no compiler or
// install script needed), and it calls libc's setsockopt/connect/poll/recvmsg directly. The
// alternatives need a build step (ffi-napi, and net-keepalive on top of it) or cover only the
// keepalive options (net-keepalive, sockopt); none does TTL + the error queue. Linux only: the
// option numbers and the error-queue layout below are Linux's. Everything that touches a file
// descriptor is in this module; the rest of idleprobe sees `SocketTuner` and `traceTcp()`.
import { createRequire } from 'node:module';
import net from 'node:net';

/** The platform refused: locate / tcp: rows cannot work here. Exit 2 (like an invalid setting), never a wrong answer. */
export class SocketOptionsError extends Error {
  readonly exitCode = 2;
  constructor(message: string) {
    super(message);
    this.name = 'SocketOptionsError';
  }
}

const SOL_SOCKET = 1;
const SO_KEEPALIVE = 9;
const SO_ERROR = 4;
const IPPROTO_IP = 0;
const IP_TTL = 2;
const IP_RECVERR = 11;
const IPPROTO_TCP = 6;
const TCP_KEEPIDLE = 4;
const TCP_KEEPINTVL = 5;
const TCP_KEEPCNT = 6;
const IPPROTO_IPV6 = 41;
const IPV6_UNICAST_HOPS = 16;
const IPV6_RECVERR = 25;
const AF_INET = 2;
const AF_INET6 = 10;
const SOCK_STREAM = 1;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const MSG_ERRQUEUE = 0x2000;
const POLLOUT = 4;
const EINPROGRESS = 115;
const SO_EE_ORIGIN_ICMP = 2;
const SO_EE_ORIGIN_ICMP6 = 3;
/** Linux refuses TCP_KEEPCNT above 127 and TCP_KEEPIDLE/INTVL above 32767 s. */
export const MAX_KEEPALIVE_COUNT = 127;
export const MAX_KEEPALIVE_SECONDS = 32767;

const ERRNO_NAMES: Record<number, string> = {
  1: 'EPERM', 9: 'EBADF', 13: 'EACCES', 22: 'EINVAL', 88: 'ENOTSOCK', 92: 'ENOPROTOOPT', 95: 'EOPNOTSUPP',
  97: 'EAFNOSUPPORT', 101: 'ENETUNREACH', 110: 'ETIMEDOUT', 111: 'ECONNREFUSED', 113: 'EHOSTUNREACH',
};
const errnoName = (n: number) => ERRNO_NAMES[n] ?? `errno ${n}`;

interface Libc {
  errno(): number;
  setsockopt(fd: number, level: number, name: number, val: Buffer, len: number): number;
  getsockopt(fd: number, level: number, name: number, val: Buffer, len: number[]): number;
  socket(domain: number, type: number, proto: number): number;
  connect(fd: number, addr: Buffer, len: number): number;
  pollAsync(fds: { fd: number; events: number; revents: number }[], n: number, timeoutMs: number): Promise<number>;
  recvmsg(fd: number, msg: Record<string, unknown>, flags: number): number;
  close(fd: number): number;
}

let libc: Libc | null = null;

/** Who needs the options, for the messages of a platform that refuses them. */
export type SocketOptionsUser = 'locate' | 'tcp-keepalive';
const NEEDS: Record<SocketOptionsUser, { needs: string; cannot: string }> = {
  locate: { needs: 'locate needs Linux socket options (IP_TTL, TCP_KEEPIDLE, IP_RECVERR)', cannot: 'locate cannot call the socket options it needs' },
  'tcp-keepalive': {
    needs: 'tcp: heartbeat rows need Linux socket options (SO_KEEPALIVE, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT)',
    cannot: 'tcp: heartbeat rows cannot set the socket options they need (SO_KEEPALIVE, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT)',
  },
};

/** The libc to call (IDLEPROBE_LIBC overrides it, e.g. musl's `libc.musl-x86_64.so.1`). */
function loadLibc(user: SocketOptionsUser = 'locate'): Libc {
  if (libc) return libc;
  if (process.platform !== 'linux') throw new SocketOptionsError(`${NEEDS[user].needs}; this is ${process.platform}`);
  const file = process.env.IDLEPROBE_LIBC || 'libc.so.6';
  try {
    const koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');
    const lib = koffi.load(file);
    const pollfd = koffi.struct('idleprobe_pollfd', { fd: 'int', events: 'short', revents: 'short' });
    const iovec = koffi.struct('idleprobe_iovec', { base: 'void *', len: 'size_t' });
    koffi.struct('idleprobe_msghdr', {
      name: 'void *', namelen: 'uint32_t', iov: koffi.pointer(iovec), iovlen: 'size_t', control: 'void *', controllen: 'size_t', flags: 'int',
    });
    void pollfd;
    const poll = lib.func('int poll(_Inout_ idleprobe_pollfd *fds, unsigned long n, int timeout)');
    libc = {
      errno: () => koffi.errno(),
      setsockopt: lib.func('int setsockopt(int fd, int level, int name, const void *val, uint32_t len)'),
      getsockopt: lib.func('int getsockopt(int fd, int level, int name, _Out_ void *val, _Inout_ uint32_t *len)'),
      socket: lib.func('int socket(int domain, int type, int proto)'),
      connect: lib.func('int connect(int fd, const void *addr, uint32_t len)'),
      // poll blocks: it runs on koffi's worker thread so the event loop never waits for an ICMP.
      pollAsync: (fds, n, timeoutMs) =>
        new Promise<number>((resolve, reject) => {
          poll.async(fds, n, timeoutMs, (err: unknown, r: number) => (err ? reject(err instanceof Error ? err : new Error('poll failed', { cause: err })) : resolve(r)));
        }),
      recvmsg: lib.func('long recvmsg(int fd, _Inout_ idleprobe_msghdr *msg, int flags)'),
      close: lib.func('int close(int fd)'),
    };
    return libc;
  } catch (err) {
    throw new SocketOptionsError(`${NEEDS[user].cannot}: loading ${file} through koffi failed (${(err as Error).message})`);
  }
}

function intBuffer(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32LE(v);
  return b;
}

function setInt(c: Libc, fd: number, level: number, name: number, value: number, what: string): void {
  if (c.setsockopt(fd, level, name, intBuffer(value), 4) !== 0) {
    throw new SocketOptionsError(`setsockopt(${what}=${value}) was refused: ${errnoName(c.errno())}`);
  }
}

function getInt(c: Libc, fd: number, level: number, name: number, what: string): number {
  const out = Buffer.alloc(4);
  if (c.getsockopt(fd, level, name, out, [4]) !== 0) throw new SocketOptionsError(`getsockopt(${what}) was refused: ${errnoName(c.errno())}`);
  return out.readInt32LE(0);
}

export interface KeepaliveTiming {
  /** Seconds of idle before the first kernel keepalive (TCP_KEEPIDLE). */
  idleSeconds: number;
  /** Seconds between keepalives (TCP_KEEPINTVL). */
  intervalSeconds: number;
  /** Unanswered keepalives before the kernel gives the connection up (TCP_KEEPCNT). */
  count: number;
}

/** TTL-limited keepalives on one connected socket, switched on while it idles and off for the probe. */
export class SocketTuner {
  private readonly fd: number;
  private readonly v6: boolean;
  private readonly defaultHops: number;

  /** Throws SocketOptionsError when the fd cannot be had or the options are refused. */
  constructor(private readonly sock: net.Socket) {
    const c = loadLibc();
    // Node keeps the descriptor on its libuv handle (Linux/macOS); there is no public accessor.
    const fd = (sock as unknown as { _handle?: { fd?: number } })._handle?.fd;
    if (typeof fd !== 'number' || fd < 0) throw new SocketOptionsError('cannot get the file descriptor of the probe socket (socket._handle.fd)');
    this.fd = fd;
    this.v6 = sock.remoteFamily === 'IPv6';
    this.defaultHops = this.v6 ? getInt(c, fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, 'IPV6_UNICAST_HOPS') : getInt(c, fd, IPPROTO_IP, IP_TTL, 'IP_TTL');
    if (this.defaultHops < 1) this.defaultHops = 64;
  }

  /**
   * Idle mode: kernel keepalives with IP TTL `hops` refresh the boxes at hops 1…hops and no further;
   * the first one at once if the socket already idled longer than `timing.idleSeconds`.
   */
  keepaliveAtHop(hops: number, timing: KeepaliveTiming): void {
    const c = loadLibc();
    if (!Number.isInteger(hops) || hops < 1 || hops > 255) throw new SocketOptionsError(`TTL ${hops} is not 1–255`);
    this.setHops(hops);
    setInt(c, this.fd, SOL_SOCKET, SO_KEEPALIVE, 1, 'SO_KEEPALIVE');
    setInt(c, this.fd, IPPROTO_TCP, TCP_KEEPINTVL, clampSeconds(timing.intervalSeconds), 'TCP_KEEPINTVL');
    setInt(c, this.fd, IPPROTO_TCP, TCP_KEEPCNT, Math.min(MAX_KEEPALIVE_COUNT, Math.max(1, Math.round(timing.count))), 'TCP_KEEPCNT');
    // Last: with SO_KEEPALIVE on, setting TCP_KEEPIDLE re-arms the timer against the time since the
    // last packet received, so a session that already idled longer sends its first keepalive at
    // once (locate moves idle sessions to another hop; the boxes there must hear from it in time).
    setInt(c, this.fd, IPPROTO_TCP, TCP_KEEPIDLE, clampSeconds(timing.idleSeconds), 'TCP_KEEPIDLE');
  }

  /** Probe mode: the system's default TTL back and no keepalive, so the probe crosses the whole path. */
  plain(): void {
    if (this.sock.destroyed) return;
    const c = loadLibc();
    setInt(c, this.fd, SOL_SOCKET, SO_KEEPALIVE, 0, 'SO_KEEPALIVE');
    this.setHops(this.defaultHops);
  }

  /** The TTL currently set (for tests and --debug). */
  currentHops(): number {
    const c = loadLibc();
    return this.v6 ? getInt(c, this.fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, 'IPV6_UNICAST_HOPS') : getInt(c, this.fd, IPPROTO_IP, IP_TTL, 'IP_TTL');
  }

  private setHops(hops: number): void {
    const c = loadLibc();
    if (this.v6) setInt(c, this.fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, hops, 'IPV6_UNICAST_HOPS');
    else setInt(c, this.fd, IPPROTO_IP, IP_TTL, hops, 'IP_TTL');
  }
}

/** The descriptor of a connected net.Socket: Node keeps it on its libuv handle (no public accessor). */
function socketFd(sock: net.Socket): number {
  const fd = (sock as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new SocketOptionsError('cannot get the file descriptor of the probe socket (socket._handle.fd)');
  return fd;
}

/**
 * Kernel TCP keepalives on a connected socket at the system's TTL — what OpenSSH's `TCPKeepAlive
 * yes` asks for, with the timing a `tcp:N` heartbeat row chooses instead of the sysctls
 * (net.ipv4.tcp_keepalive_time / _intvl / _probes of the host that owns the socket). Throws
 * SocketOptionsError when refused.
 */
export function enableKeepalive(sock: net.Socket, timing: KeepaliveTiming): void {
  const c = loadLibc('tcp-keepalive');
  const fd = socketFd(sock);
  setInt(c, fd, IPPROTO_TCP, TCP_KEEPIDLE, clampSeconds(timing.idleSeconds), 'TCP_KEEPIDLE');
  setInt(c, fd, IPPROTO_TCP, TCP_KEEPINTVL, clampSeconds(timing.intervalSeconds), 'TCP_KEEPINTVL');
  setInt(c, fd, IPPROTO_TCP, TCP_KEEPCNT, Math.min(MAX_KEEPALIVE_COUNT, Math.max(1, Math.round(timing.count))), 'TCP_KEEPCNT');
  setInt(c, fd, SOL_SOCKET, SO_KEEPALIVE, 1, 'SO_KEEPALIVE');
}

/** The keepalive timing a socket has now (for tests): null while SO_KEEPALIVE is off. */
export function keepaliveTiming(sock: net.Socket): KeepaliveTiming | null {
  const c = loadLibc('tcp-keepalive');
  const fd = socketFd(sock);
  if (getInt(c, fd, SOL_SOCKET, SO_KEEPALIVE, 'SO_KEEPALIVE') === 0) return null;
  return {
    idleSeconds: getInt(c, fd, IPPROTO_TCP, TCP_KEEPIDLE, 'TCP_KEEPIDLE'),
    intervalSeconds: getInt(c, fd, IPPROTO_TCP, TCP_KEEPINTVL, 'TCP_KEEPINTVL'),
    count: getInt(c, fd, IPPROTO_TCP, TCP_KEEPCNT, 'TCP_KEEPCNT'),
  };
}

/** Fails early (before any session) when this platform cannot give a socket kernel keepalives with our timing. */
export function checkKeepaliveOptionsAvailable(): void {
  const c = loadLibc('tcp-keepalive');
  const fd = c.socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new SocketOptionsError(`socket() failed: ${errnoName(c.errno())}`);
  try {
    setInt(c, fd, IPPROTO_TCP, TCP_KEEPIDLE, 1, 'TCP_KEEPIDLE');
    setInt(c, fd, IPPROTO_TCP, TCP_KEEPINTVL, 1, 'TCP_KEEPINTVL');
    setInt(c, fd, IPPROTO_TCP, TCP_KEEPCNT, MAX_KEEPALIVE_COUNT, 'TCP_KEEPCNT');
    setInt(c, fd, SOL_SOCKET, SO_KEEPALIVE, 1, 'SO_KEEPALIVE');
  } finally {
    c.close(fd);
  }
}

function clampSeconds(s: number): number {
  return Math.min(MAX_KEEPALIVE_SECONDS, Math.max(1, Math.floor(s)));
}

/** Fails early (before any session) when this platform cannot do what locate needs, for this address family. */
export function checkSocketOptionsAvailable(family: 4 | 6 = 4): void {
  const c = loadLibc();
  const fd = c.socket(family === 6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new SocketOptionsError(`socket(${family === 6 ? 'AF_INET6' : 'AF_INET'}) failed: ${errnoName(c.errno())}${family === 6 ? ' (no IPv6 on this host?)' : ''}`);
  try {
    if (family === 6) {
      setInt(c, fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, 3, 'IPV6_UNICAST_HOPS');
      setInt(c, fd, IPPROTO_IPV6, IPV6_RECVERR, 1, 'IPV6_RECVERR');
    } else {
      setInt(c, fd, IPPROTO_IP, IP_TTL, 3, 'IP_TTL');
      setInt(c, fd, IPPROTO_IP, IP_RECVERR, 1, 'IP_RECVERR');
    }
    setInt(c, fd, IPPROTO_TCP, TCP_KEEPIDLE, 1, 'TCP_KEEPIDLE');
    setInt(c, fd, IPPROTO_TCP, TCP_KEEPINTVL, 1, 'TCP_KEEPINTVL');
    setInt(c, fd, IPPROTO_TCP, TCP_KEEPCNT, MAX_KEEPALIVE_COUNT, 'TCP_KEEPCNT');
    setInt(c, fd, SOL_SOCKET, SO_KEEPALIVE, 1, 'SO_KEEPALIVE');
  } finally {
    c.close(fd);
  }
}

// ---------------------------------------------------------------------------------------------
// TCP traceroute: what hop k is, and at which hop the target answers.

/** What one TTL-limited SYN learned. */
export type HopAnswer =
  | { kind: 'time_exceeded'; address: string }
  | { kind: 'destination'; address: string }
  | { kind: 'unreachable'; address: string | null; reason: string }
  | { kind: 'no_answer' };

function sockaddrFor(address: string, port: number): { buf: Buffer; family: number } {
  if (net.isIPv4(address)) {
    const b = Buffer.alloc(16);
    b.writeUInt16LE(AF_INET, 0);
    b.writeUInt16BE(port, 2);
    address.split('.').forEach((o, i) => b.writeUInt8(Number(o), 4 + i));
    return { buf: b, family: AF_INET };
  }
  if (net.isIPv6(address)) {
    const b = Buffer.alloc(28);
    b.writeUInt16LE(AF_INET6, 0);
    b.writeUInt16BE(port, 2);
    ipv6Bytes(address).copy(b, 8);
    return { buf: b, family: AF_INET6 };
  }
  throw new SocketOptionsError(`traceroute needs an IP address, got "${address}"`);
}

function ipv6Bytes(address: string): Buffer {
  const [head, tail] = address.includes('::') ? address.split('::') : [address, null];
  const parse = (s: string) => (s === '' ? [] : s.split(':'));
  let groups = parse(head);
  let rest = tail === null ? [] : parse(tail);
  const last = (tail === null ? groups : rest).at(-1);
  const v4 = last && last.includes('.') ? last : null;
  if (v4) {
    const o = v4.split('.').map(Number);
    const extra = [((o[0] << 8) | o[1]).toString(16), ((o[2] << 8) | o[3]).toString(16)];
    if (tail === null) groups = [...groups.slice(0, -1), ...extra];
    else rest = [...rest.slice(0, -1), ...extra];
  }
  const fill = tail === null ? [] : new Array<string>(8 - groups.length - rest.length).fill('0');
  const all = [...groups, ...fill, ...rest];
  const b = Buffer.alloc(16);
  all.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16) || 0, i * 2));
  return b;
}

function addressFromSockaddr(b: Buffer): string | null {
  const family = b.readUInt16LE(0);
  if (family === AF_INET) return [4, 5, 6, 7].map((i) => b[i]).join('.');
  if (family === AF_INET6) {
    const groups: string[] = [];
    for (let i = 0; i < 8; i++) groups.push(b.readUInt16BE(8 + i * 2).toString(16));
    return compressIpv6(groups);
  }
  return null;
}

/** RFC 5952 text: the longest run of zero groups (≥ 2) becomes "::". */
function compressIpv6(groups: string[]): string {
  let best = { at: -1, len: 0 };
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > best.len && j - i >= 2) best = { at: i, len: j - i };
    i = j === i ? i + 1 : j;
  }
  if (best.at < 0) return groups.join(':');
  return `${groups.slice(0, best.at).join(':')}::${groups.slice(best.at + best.len).join(':')}`;
}

/**
 * One SYN with TTL `hops` to address:port. Unprivileged: the ICMP error of a SYN is queued on the
 * socket's error queue (IP_RECVERR) with the sender's address (SO_EE_OFFENDER). Never throws for
 * network outcomes; throws SocketOptionsError when the options are refused.
 */
export async function probeHop(address: string, port: number, hops: number, timeoutMs: number): Promise<HopAnswer> {
  const c = loadLibc();
  const { buf, family } = sockaddrFor(address, port);
  const fd = c.socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new SocketOptionsError(`socket() failed: ${errnoName(c.errno())}`);
  try {
    if (family === AF_INET6) {
      setInt(c, fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, hops, 'IPV6_UNICAST_HOPS');
      setInt(c, fd, IPPROTO_IPV6, IPV6_RECVERR, 1, 'IPV6_RECVERR');
    } else {
      setInt(c, fd, IPPROTO_IP, IP_TTL, hops, 'IP_TTL');
      setInt(c, fd, IPPROTO_IP, IP_RECVERR, 1, 'IP_RECVERR');
    }
    if (c.connect(fd, buf, buf.length) !== 0) {
      const e = c.errno();
      if (e !== EINPROGRESS) return { kind: 'unreachable', address: null, reason: errnoName(e) };
    }
    const fds = [{ fd, events: POLLOUT, revents: 0 }];
    const ready = await c.pollAsync(fds, 1, Math.max(1, Math.round(timeoutMs)));
    if (ready <= 0) return { kind: 'no_answer' };
    const soError = getInt(c, fd, SOL_SOCKET, SO_ERROR, 'SO_ERROR');
    // Connected (SYN-ACK) or refused (RST): the target's host answered at this hop.
    if (soError === 0 || soError === 111) return { kind: 'destination', address };
    const icmp = readErrorQueue(c, fd);
    if (icmp === null) return { kind: 'unreachable', address: null, reason: errnoName(soError) };
    const timeExceeded = (icmp.origin === SO_EE_ORIGIN_ICMP && icmp.type === 11) || (icmp.origin === SO_EE_ORIGIN_ICMP6 && icmp.type === 3);
    if (timeExceeded && icmp.offender) return { kind: 'time_exceeded', address: icmp.offender };
    return { kind: 'unreachable', address: icmp.offender, reason: `ICMP type ${icmp.type} code ${icmp.code} (${errnoName(soError)})` };
  } finally {
    c.close(fd);
  }
}

function readErrorQueue(c: Libc, fd: number): { origin: number; type: number; code: number; offender: string | null } | null {
  const name = Buffer.alloc(128);
  const control = Buffer.alloc(512);
  const data = Buffer.alloc(64);
  const msg: Record<string, unknown> = { name, namelen: name.length, iov: [{ base: data, len: data.length }], iovlen: 1, control, controllen: control.length, flags: 0 };
  if (c.recvmsg(fd, msg, MSG_ERRQUEUE) < 0) return null;
  const controlLen = Number(msg.controllen);
  // struct cmsghdr { size_t len; int level; int type; } then sock_extended_err then the offender.
  for (let off = 0; off + 16 <= controlLen; ) {
    const len = Number(control.readBigUInt64LE(off));
    if (len < 16) break;
    const level = control.readInt32LE(off + 8);
    const type = control.readInt32LE(off + 12);
    if ((level === IPPROTO_IP && type === IP_RECVERR) || (level === IPPROTO_IPV6 && type === IPV6_RECVERR)) {
      const ee = off + 16;
      const origin = control.readUInt8(ee + 4);
      const icmpType = control.readUInt8(ee + 5);
      const icmpCode = control.readUInt8(ee + 6);
      const offender = len >= 16 + 16 + 16 ? addressFromSockaddr(control.subarray(ee + 16, off + len)) : null;
      return { origin, type: icmpType, code: icmpCode, offender };
    }
    off += (len + 7) & ~7;
  }
  return null;
}

export interface TraceResult {
  /** Hop k's address, or null when it sent no time-exceeded (filtered, rate-limited). */
  hops: { hop: number; address: string | null }[];
  /** The hop at which the target itself answered, or null when it never did within maxHops. */
  targetHop: number | null;
  /** Why the trace stopped early (an ICMP unreachable), or null. */
  problem: string | null;
}

/**
 * TCP traceroute to the SSH port itself (so the same firewalls pass it): TTL 1, 2, … until the
 * target answers. A few hops at a time; each silent hop is asked twice.
 */
export async function traceTcp(address: string, port: number, maxHops: number, opts: { timeoutMs?: number; parallel?: number } = {}): Promise<TraceResult> {
  const timeoutMs = opts.timeoutMs ?? 1000;
  const parallel = opts.parallel ?? 3;
  const hops: { hop: number; address: string | null }[] = [];
  for (let first = 1; first <= maxHops; first += parallel) {
    const batch = Array.from({ length: Math.min(parallel, maxHops - first + 1) }, (_, i) => first + i);
    const answers = await Promise.all(batch.map(async (k) => {
      let a = await probeHop(address, port, k, timeoutMs);
      if (a.kind === 'no_answer') a = await probeHop(address, port, k, timeoutMs);
      return a;
    }));
    for (let i = 0; i < batch.length; i++) {
      const k = batch[i];
      const a = answers[i];
      if (a.kind === 'destination') {
        hops.push({ hop: k, address: a.address });
        return { hops, targetHop: k, problem: null };
      }
      if (a.kind === 'unreachable') {
        hops.push({ hop: k, address: a.address });
        return { hops, targetHop: null, problem: `hop ${k}${a.address ? ` (${a.address})` : ''}: ${a.reason}` };
      }
      hops.push({ hop: k, address: a.kind === 'time_exceeded' ? a.address : null });
    }
  }
  return { hops, targetHop: null, problem: null };
}
