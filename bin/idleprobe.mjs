#!/usr/bin/env node
// Runs the TypeScript sources through tsx's loader so a fresh clone works after `npm ci`
// with no separate build step (and no stale build output to go out of sync).
import { register } from 'tsx/esm/api';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

if (process.argv[2] === 'serve') {
  // Loading the modules takes most of a second; a SIGHUP then (systemd's ExecReload) would kill
  // the process with Node's default action. Note it; src/app/signals.ts takes over and replays it.
  const early = { received: false, uninstall: () => process.off('SIGHUP', onHup) };
  const onHup = () => void (early.received = true);
  process.on('SIGHUP', onHup);
  process[Symbol.for('idleprobe.early-sighup')] = early;
}
register();
const here = path.dirname(fileURLToPath(import.meta.url));
const { main } = await import(path.join(here, '..', 'src', 'cli', 'main.ts'));
const code = await main(process.argv.slice(2));
if (typeof code === 'number') process.exitCode = code;
