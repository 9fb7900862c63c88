// An in-process SSH server for the demo and the tests: real SSH (ssh2's Server) with a generated
// host key, one user with one public key, keepalive replies, and exec requests of the exact form
// `sleep N; echo X` answered by a timer — there is no shell behind it. The signal method's two
// scripts (src/probe/inbound-scripts.ts) are recognised and played: a waiter gets a made-up PID
// and prints when the signaller, on another connection, is told "USR1 PID".
import net from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import ssh2, { type ParsedKey } from 'ssh2';
import { signallerScript, SIGNALLER_READY, WAITER_READY, WAITER_SPEAKS } from '../probe/inbound-scripts.ts';
import { after, type ClockTimer } from '../probe/clock-timer.ts';
import { sendServerKeepalive } from '../probe/ssh2-adapter.ts';
import { realClock } from '../search/clock.ts';
import type { Clock } from '../search/types.ts';

export interface DemoSshServerOptions {
  /** Host private key (OpenSSH or PEM text). */
  hostKey: string;
  user: string;
  /** The one public key allowed to log in (OpenSSH "ssh-ed25519 AAAA…" text). */
  authorizedKey: string;
  /** Like sshd ClientAliveInterval: a keepalive request after this many seconds without client data. */
  serverHeartbeatSeconds?: number;
  /** Like sshd UnusedConnectionTimeout: close connections that had no open channel for this long. */
  idleDisconnectSeconds?: number;
  /** Also accept this password for `user` (password auth). */
  password?: string;
  /** Extra delay before an exec's timer starts, like a slow fork/PAM/shell start-up under load. */
  execStartDelaySeconds?: number;
  /** Refuse the signal method's scripts (a server where only `sleep N; echo X` runs). */
  noSignalMethod?: boolean;
  /** Refuse every command as sshd's `ForceCommand internal-sftp` does (an account without a shell). */
  noShell?: boolean;
  /** Clock of the exec and idle-disconnect timers (tests run the lab on virtual time); default: real time. */
  clock?: Clock;
}

/** The waiter script is recognised by its shape; its lifetime bound varies. */
function isWaiterScript(command: string): boolean {
  return command.startsWith('exec 3<&0\n') && command.includes(`echo ${WAITER_READY} $$`);
}

export interface DemoSshServer {
  host: string;
  port: number;
  close(): Promise<void>;
}

const EXEC_FORM = /^\s*(?:echo\s+([\w.-]+)\s*;\s*)?sleep\s+(\d+(?:\.\d+)?)\s*;\s*echo\s+([^;&|`$<>]*?)\s*$/;
/** Upper bound for one exec's sleep, seconds: the demo never needs more than the search's max. */
const MAX_SLEEP_SECONDS = 7440;

/** Parses `[echo W;] sleep N; echo X`; anything else is refused (there is no shell). */
export function parseDemoExec(command: string): { before: string | null; sleepSeconds: number; text: string } | null {
  const m = EXEC_FORM.exec(command);
  if (!m) return null;
  const sleepSeconds = Number(m[2]);
  if (!Number.isFinite(sleepSeconds) || sleepSeconds > MAX_SLEEP_SECONDS) return null;
  return { before: m[1] ?? null, sleepSeconds, text: m[3].replace(/^(['"])(.*)\1$/, '$2') };
}

function sameBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

export async function startDemoSshServer(opts: DemoSshServerOptions): Promise<DemoSshServer> {
  const allowed = ssh2.utils.parseKey(opts.authorizedKey);
  if (allowed instanceof Error) throw new Error(`demo server: cannot parse the authorized key: ${allowed.message}`);
  // ssh2 returns an array for a file of several keys (its types say one key); flat() takes the first
  // either way, typed (Array.isArray would narrow the interface to `ParsedKey & any[]`).
  const keys: ParsedKey | ParsedKey[] = allowed;
  const allowedKey = [keys].flat()[0];
  const connections = new Set<net.Socket>();
  const clock = opts.clock ?? realClock;
  const allExecTimerSets = new Set<Set<ClockTimer>>();
  // Waiters of every connection by their made-up PID: the signaller runs on another connection.
  const waiters = new Map<number, ssh2.ServerChannel>();
  let nextPid = 4000;

  const server = new ssh2.Server(
    {
      hostKeys: [opts.hostKey],
      // ssh2's own keepalive would run on setInterval (real time) and, unset, pings every 15 s,
      // which would mask every path timeout above 15 s: off (~24.8 days, setInterval's maximum).
      // The heartbeat below does the same on the injected clock.
      keepaliveInterval: 2_147_483_647,
      keepaliveCountMax: 3,
    },
    (client, info) => {
      let openChannels = 0;
      if (opts.serverHeartbeatSeconds) {
        // Like sshd ClientAliveInterval (and ssh2's keepalive): a keepalive request after N s
        // without client data; 3 in a row unanswered end the connection.
        const everyMs = opts.serverHeartbeatSeconds * 1000;
        const sock = [...connections].find((c) => c.remotePort === info.port);
        let unanswered = 0;
        let timer: ClockTimer | null = null;
        const arm = () => {
          timer?.cancel();
          timer = after(clock, everyMs, () => {
            if (++unanswered > 3) return void client.end();
            sendServerKeepalive(client);
            arm();
          });
        };
        client.once('ready', () => {
          arm();
          sock?.on('data', () => {
            unanswered = 0;
            arm();
          });
        });
        client.on('close', () => timer?.cancel());
      }
      let idleTimer: ClockTimer | null = null;
      const armIdleDisconnect = () => {
        if (!opts.idleDisconnectSeconds || openChannels > 0) return;
        idleTimer = after(clock, opts.idleDisconnectSeconds * 1000, () => client.end());
      };
      const disarmIdleDisconnect = () => {
        idleTimer?.cancel();
        idleTimer = null;
      };
      client.on('error', () => {
        // Peers vanish (the middlebox resets them); nothing to report in the demo.
      });
      // Exec timers of this connection: a dropped connection does not always close its channels.
      const execTimers = new Set<ClockTimer>();
      const clearExecTimers = () => {
        for (const t of execTimers) t.cancel();
        execTimers.clear();
      };
      allExecTimerSets.add(execTimers);
      client.on('close', () => {
        disarmIdleDisconnect();
        clearExecTimers();
        allExecTimerSets.delete(execTimers);
      });
      const methods: ('publickey' | 'password')[] = opts.password !== undefined ? ['publickey', 'password'] : ['publickey'];
      client.on('authentication', (ctx) => {
        if (ctx.username !== opts.user) return ctx.reject(methods);
        if (ctx.method === 'password' && opts.password !== undefined) {
          const ok = sameBytes(Buffer.from(ctx.password), Buffer.from(opts.password));
          return ok ? ctx.accept() : ctx.reject(methods);
        }
        if (ctx.method !== 'publickey') return ctx.reject(methods);
        const key = ctx.key;
        if (key.algo !== allowedKey.type || !sameBytes(key.data, allowedKey.getPublicSSH())) return ctx.reject(methods);
        if (ctx.signature && ctx.blob) {
          if (allowedKey.verify(ctx.blob, ctx.signature, ctx.hashAlgo) !== true) return ctx.reject(methods);
        }
        ctx.accept();
      });
      client.on('ready', () => {
        armIdleDisconnect();
        client.on('session', (acceptSession) => {
          const session = acceptSession();
          openChannels++;
          disarmIdleDisconnect();
          let closed = false;
          const onChannelGone = () => {
            if (closed) return;
            closed = true;
            openChannels--;
            armIdleDisconnect();
          };
          session.on('close', onChannelGone);
          session.on('exec', (acceptExec, _rejectExec, info) => {
            if (opts.noShell) {
              const stream = acceptExec();
              stream.stderr.write('This service allows sftp connections only.\n');
              stream.exit(1);
              stream.end();
              return;
            }
            if (!opts.noSignalMethod && isWaiterScript(info.command)) {
              const stream = acceptExec();
              const pid = nextPid++;
              waiters.set(pid, stream);
              stream.on('close', () => waiters.delete(pid));
              stream.write(`${WAITER_READY} ${pid}\n`);
              return;
            }
            if (!opts.noSignalMethod && info.command === signallerScript()) {
              const stream = acceptExec();
              stream.write(`${SIGNALLER_READY}\n`);
              let buffer = '';
              stream.on('data', (chunk: Buffer) => {
                buffer = (buffer + chunk.toString('utf8')).slice(-4096);
                for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
                  const [sig, pidText] = buffer.slice(0, nl).trim().split(' ');
                  buffer = buffer.slice(nl + 1);
                  const waiter = waiters.get(Number(pidText));
                  if (!waiter || (sig !== 'USR1' && sig !== 'TERM')) {
                    stream.write(`gone ${pidText}\n`);
                    continue;
                  }
                  if (sig === 'USR1') waiter.write(`${WAITER_SPEAKS}\n`);
                  else {
                    waiters.delete(Number(pidText));
                    waiter.exit(0);
                    waiter.end();
                  }
                  stream.write(`ok ${pidText}\n`);
                }
              });
              stream.on('end', () => {
                stream.exit(0);
                stream.end();
              });
              return;
            }
            const parsed = parseDemoExec(info.command);
            if (!parsed) {
              // No shell: behave like a restricted account.
              const stream = acceptExec();
              stream.stderr.write(`demo server: only "sleep N; echo X" is supported, got: ${info.command.slice(0, 80)}\n`);
              stream.exit(127);
              stream.end();
              return;
            }
            const stream = acceptExec();
            const timers: ClockTimer[] = [];
            const later = (fn: () => void, ms: number) => {
              const t = after(clock, ms, () => {
                execTimers.delete(t);
                fn();
              });
              timers.push(t);
              execTimers.add(t);
            };
            // A slow server starts the "shell" late; the sleep runs from the start.
            const start = () => {
              if (parsed.before !== null) stream.write(`${parsed.before}\n`);
              later(() => {
                stream.write(`${parsed.text}\n`);
                stream.exit(0);
                stream.end();
              }, parsed.sleepSeconds * 1000);
            };
            if (opts.execStartDelaySeconds) later(start, opts.execStartDelaySeconds * 1000);
            else start();
            stream.on('close', () => {
              for (const t of timers) {
                t.cancel();
                execTimers.delete(t);
              }
            });
          });
        });
      });
    },
  );

  // Accept TCP ourselves so a connection whose first bytes are not an SSH identification (a
  // re-mapped flow's mid-stream segment) gets an immediate RST, as a real TCP stack would answer.
  const front = net.createServer((sock) => {
    connections.add(sock);
    sock.on('close', () => connections.delete(sock));
    sock.on('error', () => {});
    sock.once('data', (first: Buffer) => {
      if (!first.subarray(0, Math.min(4, first.length)).equals(Buffer.from('SSH-').subarray(0, Math.min(4, first.length)))) {
        sock.resetAndDestroy();
        return;
      }
      sock.pause();
      sock.unshift(first);
      server.injectSocket(sock);
    });
  });
  await new Promise<void>((resolve, reject) => {
    front.once('error', reject);
    front.listen(0, '127.0.0.1', () => resolve());
  });
  const addr = front.address() as net.AddressInfo;
  return {
    host: '127.0.0.1',
    port: addr.port,
    close: async () => {
      waiters.clear();
      for (const set of allExecTimerSets) for (const t of set) t.cancel();
      allExecTimerSets.clear();
      for (const s of connections) s.destroy();
      await new Promise<void>((resolve) => front.close(() => resolve()));
      server.close();
    },
  };
}
