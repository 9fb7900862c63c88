// Dropbear (Debian package dropbear-bin) as a second SSH server in a lab's server namespace: its own
// host key, the lab's client key authorised for root, a private /root (a mount namespace of its own),
// started in the foreground as a child we own and ready when it says so on stderr.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Lab } from './lab.ts';
import { sha256Fingerprint } from './sshd.ts';

export interface RunningDropbear {
  child: ChildProcess;
  pid: number;
  port: number;
  hostKeySha256: string;
  log(): string;
  stop(): Promise<void>;
}

export async function startDropbear(lab: Lab, opts: { port: number; extraArgs?: string[] }): Promise<RunningDropbear> {
  const dir = path.join(lab.tmpDir, `dropbear-${opts.port}`);
  const home = path.join(dir, 'home');
  mkdirSync(path.join(home, '.ssh'), { recursive: true, mode: 0o700 });
  const hostKey = path.join(dir, 'host_ed25519');
  const gen = await lab.exec('srv', 'dropbearkey', ['-t', 'ed25519', '-f', hostKey]);
  if (gen.code !== 0) throw new Error(`lab: dropbearkey failed: ${gen.stderr}`);
  const blob = /ssh-ed25519 (\S+)/.exec(gen.stdout)?.[1];
  if (!blob) throw new Error(`lab: no public key in dropbearkey's output: ${gen.stdout}`);
  const pub = await lab.exec('cli', 'ssh-keygen', ['-y', '-f', lab.clientKeyPath]);
  writeFileSync(path.join(home, '.ssh', 'authorized_keys'), pub.stdout, { mode: 0o600 });
  const args = ['-F', '-E', '-s', '-r', hostKey, '-p', `${lab.addresses.srv}:${opts.port}`, '-P', path.join(dir, 'pid'), ...(opts.extraArgs ?? [])];
  const quoted = args.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const child = spawn('ip', ['netns', 'exec', lab.namespaces.srv, 'unshare', '-m', 'sh', '-c', `mount --bind '${home}' /root && exec dropbear ${quoted}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr.on('data', (c: Buffer) => (log = (log + c.toString()).slice(-8000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`lab: dropbear did not report listening within 5 s; log:\n${log}`)), 5000);
    const onData = () => {
      if (!/Not backgrounding|listening/i.test(log)) return;
      clearTimeout(timer);
      child.stderr.off('data', onData);
      resolve();
    };
    child.stderr.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`lab: dropbear exited (${code}) before listening; log:\n${log}`));
    });
    onData();
  });
  return {
    child,
    pid: child.pid!,
    port: opts.port,
    hostKeySha256: sha256Fingerprint(blob),
    log: () => log,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
