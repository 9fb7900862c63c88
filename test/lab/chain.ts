// A second lab topology for `locate`: a chain of three routers between client and server, with a
// stateful box (conntrack + nftables, optionally NAT) on any of them and plain routers elsewhere.
//
//   cli 198.18.10.2 ─ r1 198.18.10.1|198.18.11.1 ─ r2 198.18.11.2|198.18.12.1 ─ r3 198.18.12.2|198.18.13.1 ─ srv 198.18.13.2 (sshd)
//
// Hop k is router rk (its ICMP time-exceeded comes from its client-side address); the server is
// hop 4. Like lab.ts, every interface is born inside a lab namespace, everything is removed by
// destroy(), on exit and on signals, and labs left by a killed process are swept by PID.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { IDLEPROBE_BIN, REPO_ROOT, requireLab, runBounded, type ExecOptions, type ExecResult } from './lab.ts';
import { destroyNamespaceListSync } from './netns.ts';
import { generateKeys, reapSshd, sshdConfig, startSshd, type RunningSshd } from './sshd.ts';


export const CHAIN_ROUTERS = ['r1', 'r2', 'r3'] as const;
export type ChainRouter = (typeof CHAIN_ROUTERS)[number];
export type ChainRole = 'cli' | ChainRouter | 'srv';
const ROLES: readonly ChainRole[] = ['cli', ...CHAIN_ROUTERS, 'srv'];

/** Link i joins role i and role i+1 over 198.18.(10+i).0/30: .2 on the left… except that cli is .2. */
export const CHAIN_ADDRESSES = {
  cli: '198.18.10.2',
  r1: { cliSide: '198.18.10.1', srvSide: '198.18.11.1' },
  r2: { cliSide: '198.18.11.2', srvSide: '198.18.12.1' },
  r3: { cliSide: '198.18.12.2', srvSide: '198.18.13.1' },
  srv: '198.18.13.2',
} as const;

export interface ChainBox {
  /** nf_conntrack_tcp_timeout_established of that router, seconds. */
  timeoutSeconds: number;
  /** drop: `ct state invalid drop`; reset: `ct state invalid reject with tcp reset`. */
  mode: 'drop' | 'reset';
  /** Masquerade behind the router's server-side address (a NAT, not just a firewall). */
  nat?: boolean;
}

/** The same chain over IPv6 (ULA, one /64 per link, the same last digit as the IPv4 address). */
export const CHAIN_ADDRESSES6 = {
  cli: 'fd00:54:10::2',
  r1: { cliSide: 'fd00:54:10::1', srvSide: 'fd00:54:11::1' },
  r2: { cliSide: 'fd00:54:11::2', srvSide: 'fd00:54:12::1' },
  r3: { cliSide: 'fd00:54:12::2', srvSide: 'fd00:54:13::1' },
  srv: 'fd00:54:13::2',
} as const;

export interface ChainOptions {
  /** Stateful boxes on routers, or on the server itself (its own host firewall: hop 4). */
  boxes: Partial<Record<ChainRouter | 'srv', ChainBox>>;
  /** Routers that send no ICMP time-exceeded (nft drops them on output). */
  icmpSilent?: ChainRouter[];
  /** Also IPv6 on every link (CHAIN_ADDRESSES6), sshd listening on both. */
  ipv6?: boolean;
}

export interface ChainLab {
  id: string;
  names: Record<ChainRole, string>;
  /** The chain's own temporary directory (keys, configs), removed by destroy(). */
  tmpDir: string;
  target: string;
  knownHostsPath: string;
  clientKeyPath: string;
  sshdLog(): string;
  exec(role: ChainRole, cmd: string, args: string[], opts?: ExecOptions): Promise<ExecResult>;
  /** `root@fd00:54:13::2` (ssh's unbracketed form) when built with ipv6, else null. */
  target6: string | null;
  /** `idleprobe locate TARGET -i KEY --known-hosts FILE <args>` from the client (TARGET: `target` unless given). */
  locate(args: string[], opts?: ExecOptions & { target?: string }): Promise<ExecResult>;
  destroy(): Promise<void>;
}

export function chainNames(id: string): Record<ChainRole, string> {
  if (!/^[0-9a-f]{8}$/.test(id)) throw new Error(`chain lab id "${id}" must be 8 hex digits`);
  return Object.fromEntries(ROLES.map((r) => [r, `iplc-${r}-${id}`])) as Record<ChainRole, string>;
}

async function sh(cmd: string, args: string[], input?: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = execFile(cmd, args, { timeout: 10_000 }, (err, _stdout, stderr) =>
      err ? reject(new Error(`chain lab: "${cmd} ${args.join(' ')}" failed: ${stderr || err.message}`)) : resolve(),
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

/**
 * The ruleset of a stateful router (or of the server's own firewall). Chain names avoid nft
 * keywords (`fwd` is one). The `inet` family covers IPv4 and IPv6 alike (conntrack's timeouts are
 * the same sysctls for both).
 */
export function boxRuleset(box: ChainBox | undefined, icmpSilent: boolean): string {
  const invalid = box ? (box.mode === 'reset' ? 'ct state invalid reject with tcp reset' : 'ct state invalid drop') : '';
  const nat = box?.nat ? `  chain postrouting_nat {\n    type nat hook postrouting priority 100; policy accept;\n    oifname "srvside" masquerade\n  }\n` : '';
  const silence = icmpSilent ? `  chain output_filter {\n    type filter hook output priority 0; policy accept;\n    icmp type time-exceeded drop\n    icmpv6 type time-exceeded drop\n  }\n` : '';
  return `table inet iplc {
  chain forward_filter {
    type filter hook forward priority 0; policy accept;
    ${invalid}
  }
  chain input_filter {
    type filter hook input priority 0; policy accept;
    ${invalid}
  }
${nat}${silence}}
`;
}

async function build(names: Record<ChainRole, string>, opts: ChainOptions): Promise<void> {
  for (const role of ROLES) {
    await sh('ip', ['netns', 'add', names[role]]);
    await sh('ip', ['-n', names[role], 'link', 'set', 'lo', 'up']);
  }
  // Link i: role i's "srvside" ↔ role i+1's "cliside" (cli has only srvside, srv only cliside).
  for (let i = 0; i < ROLES.length - 1; i++) {
    const left = ROLES[i];
    const right = ROLES[i + 1];
    await sh('ip', ['link', 'add', 'srvside', 'netns', names[left], 'type', 'veth', 'peer', 'name', 'cliside', 'netns', names[right]]);
  }
  const A = CHAIN_ADDRESSES;
  const addr = async (role: ChainRole, dev: string, a: string) => {
    await sh('ip', ['-n', names[role], 'addr', 'add', `${a}/30`, 'dev', dev]);
    await sh('ip', ['-n', names[role], 'link', 'set', dev, 'up']);
  };
  await addr('cli', 'srvside', A.cli);
  for (const r of CHAIN_ROUTERS) {
    await addr(r, 'cliside', A[r].cliSide);
    await addr(r, 'srvside', A[r].srvSide);
  }
  await addr('srv', 'cliside', A.srv);
  if (opts.ipv6) {
    const A6 = CHAIN_ADDRESSES6;
    // nodad: the addresses are usable at once (duplicate address detection would hold them for seconds).
    const addr6 = (role: ChainRole, dev: string, a: string) => sh('ip', ['-n', names[role], '-6', 'addr', 'add', `${a}/64`, 'dev', dev, 'nodad']);
    await addr6('cli', 'srvside', A6.cli);
    for (const r of CHAIN_ROUTERS) {
      await addr6(r, 'cliside', A6[r].cliSide);
      await addr6(r, 'srvside', A6[r].srvSide);
    }
    await addr6('srv', 'cliside', A6.srv);
    await sh('ip', ['-n', names.cli, '-6', 'route', 'add', 'default', 'via', A6.r1.cliSide]);
    await sh('ip', ['-n', names.srv, '-6', 'route', 'add', 'default', 'via', A6.r3.srvSide]);
    await sh('ip', ['-n', names.r1, '-6', 'route', 'add', 'default', 'via', A6.r2.cliSide]);
    await sh('ip', ['-n', names.r2, '-6', 'route', 'add', 'default', 'via', A6.r3.cliSide]);
    await sh('ip', ['-n', names.r2, '-6', 'route', 'add', 'fd00:54:10::/64', 'via', A6.r1.srvSide]);
    await sh('ip', ['-n', names.r3, '-6', 'route', 'add', 'fd00:54:10::/64', 'via', A6.r2.srvSide]);
    await sh('ip', ['-n', names.r3, '-6', 'route', 'add', 'fd00:54:11::/64', 'via', A6.r2.srvSide]);
  }
  // Routes: towards the server via the next hop, towards the client's side via the previous one.
  await sh('ip', ['-n', names.cli, 'route', 'add', 'default', 'via', A.r1.cliSide]);
  await sh('ip', ['-n', names.srv, 'route', 'add', 'default', 'via', A.r3.srvSide]);
  await sh('ip', ['-n', names.r1, 'route', 'add', 'default', 'via', A.r2.cliSide]);
  await sh('ip', ['-n', names.r2, 'route', 'add', 'default', 'via', A.r3.cliSide]);
  await sh('ip', ['-n', names.r2, 'route', 'add', '198.18.10.0/30', 'via', A.r1.srvSide]);
  await sh('ip', ['-n', names.r3, 'route', 'add', '198.18.10.0/30', 'via', A.r2.srvSide]);
  await sh('ip', ['-n', names.r3, 'route', 'add', '198.18.11.0/30', 'via', A.r2.srvSide]);
  for (const r of [...CHAIN_ROUTERS, 'srv'] as const) {
    const box = opts.boxes[r];
    const silent = r !== 'srv' && (opts.icmpSilent?.includes(r) ?? false);
    const sysctls = r === 'srv' ? [] : ['net.ipv4.ip_forward=1', ...(opts.ipv6 ? ['net.ipv6.conf.all.forwarding=1'] : [])];
    if (box) {
      if (!Number.isInteger(box.timeoutSeconds) || box.timeoutSeconds < 1) throw new Error(`chain lab: ${r} timeout must be a positive integer`);
      sysctls.push(`net.netfilter.nf_conntrack_tcp_timeout_established=${box.timeoutSeconds}`, 'net.netfilter.nf_conntrack_tcp_loose=0');
    }
    // The conntrack sysctls exist in a namespace only once conntrack is in use there: rules first.
    if (box || silent) await sh('ip', ['netns', 'exec', names[r], 'nft', '-f', '-'], boxRuleset(box, silent));
    if (sysctls.length) await sh('ip', ['netns', 'exec', names[r], 'sysctl', '-qw', ...sysctls]);
  }
}

const live = new Map<string, () => void>();
let handlersInstalled = false;
function installCleanup(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', () => [...live.values()].forEach((d) => d()));
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      [...live.values()].forEach((d) => d());
      process.exit(128 + (os.constants.signals[signal] ?? 2));
    });
  }
}

/** Chain labs whose owner process died without cleaning up (SIGKILL): removed by owner PID. */
export function sweepStaleChains(): string[] {
  const swept: string[] = [];
  for (const entry of readdirSync(os.tmpdir())) {
    const m = /^iplchain-([0-9a-f]{8})-/.exec(entry);
    if (!m) continue;
    const dir = path.join(os.tmpdir(), entry);
    let owner: number;
    try {
      owner = Number(readFileSync(path.join(dir, 'owner.pid'), 'utf8').trim());
    } catch {
      continue;
    }
    try {
      process.kill(owner, 0);
      continue; // alive (or not ours to judge)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EPERM') continue;
    }
    destroyNamespaceListSync(Object.values(chainNames(m[1])));
    rmSync(dir, { recursive: true, force: true });
    swept.push(m[1]);
  }
  return swept;
}

export async function createChainLab(opts: ChainOptions): Promise<ChainLab> {
  const availability = requireLab();
  if (!availability.available) throw new Error(`lab unavailable: ${availability.reason}`);
  installCleanup();
  sweepStaleChains();
  const id = randomBytes(4).toString('hex');
  const names = chainNames(id);
  const tmpDir = mkdtempSync(path.join(os.tmpdir(), `iplchain-${id}-`));
  writeFileSync(path.join(tmpDir, 'owner.pid'), `${process.pid}\n`);
  let sshd: RunningSshd | undefined;
  let destroyed = false;
  const destroySync = () => {
    if (destroyed) return;
    destroyed = true;
    live.delete(id);
    destroyNamespaceListSync(Object.values(names));
    rmSync(tmpDir, { recursive: true, force: true });
  };
  live.set(id, destroySync);
  let keys;
  try {
    await build(names, opts);
    keys = await generateKeys(tmpDir, CHAIN_ADDRESSES.srv, 22);
    const configPath = path.join(tmpDir, 'sshd_config');
    let config = sshdConfig(tmpDir, keys, CHAIN_ADDRESSES.srv, 22);
    if (opts.ipv6) {
      // A second ListenAddress, and the host key known under the IPv6 address too.
      config += `ListenAddress ${CHAIN_ADDRESSES6.srv}\n`;
      const entry = readFileSync(keys.knownHostsPath, 'utf8').trim().split(/\s+/).slice(1).join(' ');
      writeFileSync(keys.knownHostsPath, `${readFileSync(keys.knownHostsPath, 'utf8')}${CHAIN_ADDRESSES6.srv} ${entry}\n`, { mode: 0o600 });
    }
    writeFileSync(configPath, config, { mode: 0o600 });
    sshd = await startSshd(names.srv, configPath);
  } catch (err) {
    destroySync();
    throw err;
  }
  const running = sshd;
  const target = `root@${CHAIN_ADDRESSES.srv}`;
  const exec = (role: ChainRole, cmd: string, args: string[], o: ExecOptions = {}) => runBounded('ip', ['netns', 'exec', names[role], cmd, ...args], o);
  return {
    id,
    names,
    tmpDir,
    target,
    target6: opts.ipv6 ? `root@${CHAIN_ADDRESSES6.srv}` : null,
    knownHostsPath: keys.knownHostsPath,
    clientKeyPath: keys.clientKeyPath,
    sshdLog: () => running.log(),
    exec,
    locate: (args, { target: to, ...o } = {}) =>
      exec('cli', process.execPath, [IDLEPROBE_BIN, 'locate', to ?? target, '-i', keys.clientKeyPath, '--known-hosts', keys.knownHostsPath, ...args], { cwd: REPO_ROOT, ...o }),
    destroy: async () => {
      destroySync();
      await reapSshd(running);
    },
  };
}

