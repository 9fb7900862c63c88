// Network-namespace plumbing for the lab: three namespaces (client, middlebox, server) joined by
// veth pairs, with a conntrack-based NAT in the middle whose idle timeout we choose.
//
//   cli (198.18.1.2) ── mbox (198.18.1.1 | 198.19.1.1) ── srv (198.19.1.2)
//
// Every interface is created directly inside a lab namespace, so two labs running at the same time
// may reuse the same addresses and interface names: they never meet (nothing is in the host's
// namespace). Deleting the namespaces removes the veths, the nft table and the sysctls with them.
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export type LabRole = 'cli' | 'mbox' | 'srv';
export const LAB_ROLES: readonly LabRole[] = ['cli', 'mbox', 'srv'];

/**
 * drop:  expired flows are black-holed (`ct state invalid drop`) — the classic NAT/firewall.
 * reset: expired flows are answered with RST (`ct state invalid reject with tcp reset`).
 * none:  no middlebox timeout within any sensible --max (huge conntrack timeout, nothing dropped).
 */
export type MiddleboxMode = 'drop' | 'reset' | 'none';

export const LAB_ADDRESSES = {
  cli: '198.18.1.2',
  mboxCliSide: '198.18.1.1',
  mboxSrvSide: '198.19.1.1',
  srv: '198.19.1.2',
} as const;

/** Conntrack timeout used for mode `none`: 10 h, above any --max a lab test would use. */
export const NO_TIMEOUT_CONNTRACK_SECONDS = 36_000;

export interface Namespaces {
  cli: string;
  mbox: string;
  srv: string;
}

export function namespaceNames(labId: string): Namespaces {
  if (!/^[a-z0-9]{1,12}$/.test(labId)) throw new Error(`lab id "${labId}" must be 1-12 lowercase letters/digits`);
  return { cli: `iplab-cli-${labId}`, mbox: `iplab-mbox-${labId}`, srv: `iplab-srv-${labId}` };
}

async function ip(args: string[]): Promise<void> {
  try {
    await execFileAsync('ip', args, { timeout: 10_000 });
  } catch (err) {
    throw new Error(`lab: "ip ${args.join(' ')}" failed: ${stderrOf(err)}`, { cause: err });
  }
}

async function inNamespace(ns: string, cmd: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile('ip', ['netns', 'exec', ns, cmd, ...args], { timeout: 10_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`lab: "${cmd} ${args.join(' ')}" in ${ns} failed: ${stderr || err.message}`));
      else resolve(stdout);
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

function stderrOf(err: unknown): string {
  if (err && typeof err === 'object' && 'stderr' in err && String((err).stderr).trim()) {
    return String((err).stderr).trim();
  }
  return err instanceof Error ? err.message : String(err);
}

/** The nft ruleset of the middlebox. Chain names avoid nft keywords (`fwd` is one). */
export function middleboxRuleset(mode: MiddleboxMode): string {
  // An expired flow's next packet is conntrack state "invalid" (tcp_loose=0 refuses to pick up
  // mid-stream). The client's packets are forwarded; the server's answers to the masqueraded
  // address arrive at the middlebox itself (input), so both hooks get the same verdict.
  const invalid = mode === 'reset' ? 'ct state invalid reject with tcp reset' : mode === 'drop' ? 'ct state invalid drop' : '';
  return `table ip iplab {
  chain forward_filter {
    type filter hook forward priority 0; policy accept;
    ${invalid}
  }
  chain input_filter {
    type filter hook input priority 0; policy accept;
    ${invalid}
  }
  chain postrouting_nat {
    type nat hook postrouting priority 100; policy accept;
    oifname "mbox-srv" masquerade
  }
}
`;
}

export interface NetnsSetup {
  conntrackTimeoutSeconds: number;
  mode: MiddleboxMode;
}

/** Creates the three namespaces and everything inside them. On failure, removes what it made. */
export async function createNamespaces(labId: string, setup: NetnsSetup): Promise<Namespaces> {
  const ns = namespaceNames(labId);
  const timeout = setup.mode === 'none' ? NO_TIMEOUT_CONNTRACK_SECONDS : setup.conntrackTimeoutSeconds;
  if (!Number.isInteger(timeout) || timeout < 1) throw new Error(`lab: conntrackTimeoutSeconds must be a positive integer, got ${timeout}`);
  try {
    for (const role of LAB_ROLES) {
      await ip(['netns', 'add', ns[role]]);
      await ip(['-n', ns[role], 'link', 'set', 'lo', 'up']);
    }
    // veth ends are born inside the namespaces: nothing ever appears in the host namespace.
    await ip(['link', 'add', 'cli0', 'netns', ns.cli, 'type', 'veth', 'peer', 'name', 'mbox-cli', 'netns', ns.mbox]);
    await ip(['link', 'add', 'srv0', 'netns', ns.srv, 'type', 'veth', 'peer', 'name', 'mbox-srv', 'netns', ns.mbox]);
    const A = LAB_ADDRESSES;
    await ip(['-n', ns.cli, 'addr', 'add', `${A.cli}/30`, 'dev', 'cli0']);
    await ip(['-n', ns.mbox, 'addr', 'add', `${A.mboxCliSide}/30`, 'dev', 'mbox-cli']);
    await ip(['-n', ns.mbox, 'addr', 'add', `${A.mboxSrvSide}/30`, 'dev', 'mbox-srv']);
    await ip(['-n', ns.srv, 'addr', 'add', `${A.srv}/30`, 'dev', 'srv0']);
    for (const [n, dev] of [[ns.cli, 'cli0'], [ns.mbox, 'mbox-cli'], [ns.mbox, 'mbox-srv'], [ns.srv, 'srv0']] as const) {
      await ip(['-n', n, 'link', 'set', dev, 'up']);
    }
    await ip(['-n', ns.cli, 'route', 'add', 'default', 'via', A.mboxCliSide]);
    await ip(['-n', ns.srv, 'route', 'add', 'default', 'via', A.mboxSrvSide]);
    // The conntrack sysctls are per network namespace: the host's values are untouched.
    await inNamespace(ns.mbox, 'sysctl', [
      '-qw',
      'net.ipv4.ip_forward=1',
      `net.netfilter.nf_conntrack_tcp_timeout_established=${timeout}`,
      'net.netfilter.nf_conntrack_tcp_loose=0',
    ]);
    await inNamespace(ns.mbox, 'nft', ['-f', '-'], middleboxRuleset(setup.mode));
    return ns;
  } catch (err) {
    destroyNamespacesSync(ns);
    throw err;
  }
}

/** PIDs of the processes living in a namespace (empty if it does not exist). */
export function namespacePidsSync(ns: string): number[] {
  try {
    const out = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', timeout: 5_000, stdio: ['ignore', 'pipe', 'ignore'] });
    return out.split(/\s+/).filter(Boolean).map(Number).filter((p) => Number.isInteger(p) && p > 1);
  } catch {
    return [];
  }
}

export function namespaceExistsSync(ns: string): boolean {
  try {
    const out = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8', timeout: 5_000 });
    return out.split('\n').some((line) => line.split(' ')[0] === ns);
  } catch {
    return false;
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Kills every process inside the lab's namespaces by PID (they were all started by this lab:
 * sshd, its session children, ssh/idleprobe runs), then deletes the namespaces. Synchronous so it
 * also works from a SIGINT handler or process exit. Safe to call twice.
 */
export function destroyNamespacesSync(ns: Namespaces): void {
  destroyNamespaceListSync(LAB_ROLES.map((r) => ns[r]));
}

/** The same for any list of namespaces (other topologies, e.g. chain.ts). */
export function destroyNamespaceListSync(names: readonly string[]): void {
  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    let any = false;
    for (const name of names) {
      for (const pid of namespacePidsSync(name)) {
        any = true;
        try {
          process.kill(pid, signal);
        } catch {
          /* already gone */
        }
      }
    }
    if (!any) break;
    // Bounded wait for the TERM'd processes before escalating.
    for (let i = 0; i < 20 && names.some((n) => namespacePidsSync(n).length > 0); i++) sleepSync(50);
  }
  for (const name of names) {
    if (!namespaceExistsSync(name)) continue;
    try {
      execFileSync('ip', ['netns', 'del', name], { timeout: 5_000, stdio: 'ignore' });
    } catch {
      /* reported by the leak check of the caller, if any */
    }
  }
}
