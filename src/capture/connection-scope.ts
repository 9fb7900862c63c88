// Which connections the analysis is about (one policy for `analyze` and `watch`):
//  - 'ssh' (the default): SSH, recognised by its version banner (`SSH-2.0-`, or `SSH-1.99-` from
//    old servers, RFC 4253 §4.2) at the start of either direction, on any port. A connection whose
//    start was not captured (it was already open, or the snap length hid the payload) cannot show
//    its banner: it counts as SSH when a side uses the well-known port 22.
//  - a port: every connection with that port on either side (no banner needed).
//  - 'all': every TCP connection.
// Pure: looks at one decoded segment and its captured payload bytes.
import { TH_SYN, type TcpSegment } from './decode.ts';
import { CategorizedError } from '../errors.ts';

export type ConnectionScope = 'ssh' | 'all' | { port: number };

/** The scope of `analyze`, `watch`, the passive job and POST /api/analyze when none is given. */
export const DEFAULT_SCOPE: ConnectionScope = 'ssh';

export const SSH_WELL_KNOWN_PORT = 22;

/** The scope a user wrote: `ssh`, `all`, or a port number 1–65535. Null when it is none of these. */
export function parseScope(text: string): ConnectionScope | null {
  const t = text.trim().toLowerCase();
  if (t === 'ssh' || t === 'all') return t;
  if (!/^\d{1,5}$/.test(t)) return null;
  const port = Number(t);
  return port >= 1 && port <= 65535 ? { port } : null;
}

/** The scope a `--port N` shorthand names: 0 is every TCP connection. */
export function scopeOfPort(port: number): ConnectionScope {
  return port === 0 ? 'all' : { port };
}

/** What `parseScope` accepts, for help texts and error messages. */
export const SCOPE_SYNTAX = 'ssh (SSH by its banner, any port), all (every TCP connection) or a port number 1–65535';

/**
 * The scope from its two spellings, as the CLI (`--scope`, `--port`) and POST /api/analyze
 * (`scope=`, `port=`) take them: `scope` in words, or the `port` shorthand (0 = all); neither is
 * the default. Throws a usage error naming the parameter.
 */
export function resolveScope(scope: string | undefined, port: number | undefined, names: { scope: string; port: string }): ConnectionScope {
  if (scope !== undefined && port !== undefined) throw new CategorizedError(`${names.port} N is a shorthand for ${names.scope} N: give one of them`, 'usage');
  if (port !== undefined) {
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new CategorizedError(`${names.port} must be an integer 0–65535 (0 = every TCP connection), got ${port}`, 'usage');
    return scopeOfPort(port);
  }
  if (scope === undefined) return DEFAULT_SCOPE;
  const parsed = parseScope(scope);
  if (parsed === null) throw new CategorizedError(`${names.scope} must be ${SCOPE_SYNTAX}, got ${JSON.stringify(scope)}`, 'usage');
  return parsed;
}

export const enum InScope {
  Unknown = 0,
  Yes = 1,
  No = 2,
}

/** How a connection was taken in: by its banner, by the port-22 fallback, or by the port/all filter. */
export type RecognisedBy = 'banner' | 'port';

/** "SSH-2.0-" or "SSH-1.99-" at `off`, looking at no more than `len` captured bytes. */
export function startsWithSshBanner(buf: Buffer, off: number, len: number): boolean {
  if (len < 8) return false;
  if (buf[off] !== 0x53 || buf[off + 1] !== 0x53 || buf[off + 2] !== 0x48 || buf[off + 3] !== 0x2d) return false; // "SSH-"
  if (buf[off + 4] === 0x32 && buf[off + 5] === 0x2e && buf[off + 6] === 0x30 && buf[off + 7] === 0x2d) return true; // "2.0-"
  return len >= 9 && buf[off + 4] === 0x31 && buf[off + 5] === 0x2e && buf[off + 6] === 0x39 && buf[off + 7] === 0x39 && buf[off + 8] === 0x2d; // "1.99-"
}

/** The state a flow keeps for the banner check. */
export interface ScopedFlow {
  scope: InScope;
  recognisedBy: RecognisedBy | null;
  /** Bit per direction whose SYN (or SYN/ACK) was captured: its first payload byte is the stream start. */
  synSeen: number;
  /** Bit per direction whose first payload segment was already looked at. */
  firstDataSeen: number;
  /** Direction that sent the opening SYN, or -1. */
  readonly synDirection: number;
  readonly portA: number;
  readonly portB: number;
  readonly finished: boolean;
}

/**
 * Updates `flow.scope` after `seg` (travelling in `direction`, already fed to the flow) was seen.
 * `firstPacket` is true for the flow's first segment.
 */
export function classifySsh(flow: ScopedFlow, direction: 0 | 1, seg: TcpSegment, buf: Buffer, firstPacket: boolean): void {
  if (firstPacket && (seg.flags & TH_SYN) === 0) {
    // Joined mid-connection: the banner went by before the capture started.
    byWellKnownPort(flow);
    return;
  }
  const bit = 1 << direction;
  if (seg.seglen > 0 && (flow.firstDataSeen & bit) === 0) {
    flow.firstDataSeen |= bit;
    if ((flow.synSeen & bit) === 0) {
      byWellKnownPort(flow);
      return;
    }
    if (seg.payloadCaptured < 8) {
      // Snap length too small to show the banner.
      byWellKnownPort(flow);
      return;
    }
    if (startsWithSshBanner(buf, seg.payloadOffset, seg.payloadCaptured)) {
      flow.scope = InScope.Yes;
      flow.recognisedBy = 'banner';
      return;
    }
    // The client must send its version string first (servers may send other lines before theirs).
    if (direction === flow.synDirection || flow.firstDataSeen === 3) flow.scope = InScope.No;
    return;
  }
  if (flow.finished) flow.scope = InScope.No;
}

/**
 * Outside the 'ssh' scope (a port, `all`), where every connection is in scope: marks one known not
 * to be SSH — the first payload of the side that sent the SYN, captured from the stream's start, is
 * no version banner. What the analysis knows of SSH endpoints does not hold for other protocols (an
 * OpenSSH client never closes without a last message; another application may: flow.ts).
 */
export function noteNotSsh(flow: ScopedFlow & { notSsh: boolean }, direction: 0 | 1, seg: TcpSegment, buf: Buffer): void {
  const bit = 1 << direction;
  if (seg.seglen === 0 || direction !== flow.synDirection || (flow.firstDataSeen & bit) !== 0) return;
  flow.firstDataSeen |= bit;
  if ((flow.synSeen & bit) !== 0 && provesNoBanner(buf, seg.payloadOffset, seg.payloadCaptured)) flow.notSsh = true;
}

/** The captured bytes (however few: a 6-byte "hello\n" is enough) cannot start an SSH version banner. */
function provesNoBanner(buf: Buffer, off: number, len: number): boolean {
  if (len >= 8) return !startsWithSshBanner(buf, off, len);
  const prefix = 'SSH-';
  for (let i = 0; i < Math.min(len, prefix.length); i++) if (buf[off + i] !== prefix.charCodeAt(i)) return true;
  return false;
}

function byWellKnownPort(flow: ScopedFlow): void {
  if (flow.portA === SSH_WELL_KNOWN_PORT || flow.portB === SSH_WELL_KNOWN_PORT) {
    flow.scope = InScope.Yes;
    flow.recognisedBy = 'port';
  } else {
    flow.scope = InScope.No;
  }
}
