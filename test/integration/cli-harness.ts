// The real CLI as a child process (node bin/idleprobe.mjs …), shared by the CLI integration tests,
// and the flags a command's --help documents (for the tests that need one row per documented flag).
import { execFile } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { repo } from './daemon-harness.ts';
import { listenEphemeral, socketSet } from '../../src/demo/socket-set.ts';
import { tcpRelay, type TcpRelay } from '../support/tcp-relay.ts';

export const BIN = path.join(repo, 'bin', 'idleprobe.mjs');

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI; `code` is null when it was killed (timeout). No ssh-agent unless `env` gives one. */
export function idleprobe(args: string[], opts: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: repo, timeout: opts.timeoutMs ?? 60_000, maxBuffer: 64 << 20, env: { ...process.env, SSH_AUTH_SOCK: '', ...opts.env } },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : null) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    child.stdin?.end();
  });
}

export const show = (r: Run) => `exit ${r.code}\nstdout: ${r.stdout.slice(0, 3000)}\nstderr: ${r.stderr.slice(0, 3000)}`;

/** Long flags listed by `idleprobe CMD --help` (`-i, --identity` as --identity), without --help;
 * only option lines (two spaces in), not flags named in a wrapped description. */
export async function documentedFlags(cmd: string): Promise<string[]> {
  const help = await idleprobe([cmd, '--help']);
  if (help.code !== 0) throw new Error(`idleprobe ${cmd} --help: ${show(help)}`);
  return [...help.stdout.matchAll(/^ {2}(?:-\w, )?(--[a-z][a-z0-9.-]*)/gm)].map((m) => m[1]).filter((flag) => flag !== '--help');
}

/** A TCP relay to 127.0.0.1:`upstreamPort` that counts connections: total and most open at once. */
export async function countingRelay(upstreamPort: number): Promise<TcpRelay & { total(): number; maxOpen(): number }> {
  let open = 0;
  let maxOpen = 0;
  let total = 0;
  const relay = await tcpRelay(upstreamPort, {
    admit: (client) => {
      total++;
      maxOpen = Math.max(maxOpen, ++open);
      client.once('close', () => open--);
      return true;
    },
  });
  return { ...relay, total: () => total, maxOpen: () => maxOpen };
}

/** A TCP server that accepts and then says nothing (no SSH banner): a login that never finishes. */
export async function silentServer(): Promise<{ port: number; accepted(): number; close(): Promise<void> }> {
  const sockets = socketSet();
  let accepted = 0;
  const server = net.createServer((s) => {
    accepted++;
    sockets.track(s);
  });
  return { ...(await listenEphemeral(server, sockets)), accepted: () => accepted };
}
