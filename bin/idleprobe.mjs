#!/usr/bin/env node
// Runs the compiled CLI in dist/ (built by `npm ci` through the `prepare` script, or `npm run
// build`). In a checkout (src/ present) a dist/ older than any source file is never run: the
// TypeScript sources run through tsx (a dev dependency) instead, so an edit is never hidden by
// stale build output. An installed package has no src/ and always runs dist/.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';

if (process.argv[2] === 'serve') {
  // Loading the modules takes most of a second; a SIGHUP then (systemd's ExecReload) would kill
  // the process with Node's default action. Note it; src/app/signals.ts takes over and replays it.
  const early = { received: false, uninstall: () => process.off('SIGHUP', onHup) };
  const onHup = () => void (early.received = true);
  process.on('SIGHUP', onHup);
  process[Symbol.for('idleprobe.early-sighup')] = early;
}
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const src = path.join(root, 'src');
const distMain = path.join(root, 'dist', 'cli', 'main.js');
const stamp = path.join(root, 'dist', '.build-stamp');

/** Newest mtime under dir (ms); ~100 files, well under a millisecond or two. */
function newestMtime(dir) {
  let newest = statSync(dir).mtimeMs;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

function distIsCurrent() {
  if (!existsSync(src)) return existsSync(distMain);
  if (!existsSync(distMain) || !existsSync(stamp)) return false;
  return newestMtime(src) <= statSync(stamp).mtimeMs;
}

let entry;
if (distIsCurrent()) {
  entry = pathToFileURL(distMain).href;
} else {
  let register;
  try {
    ({ register } = await import('tsx/esm/api'));
  } catch {
    // A deployment that pruned the dev dependencies and then pulled new sources.
    process.stderr.write('idleprobe: dist/ is missing or older than src/, and tsx (a dev dependency) is not installed: run `npm ci` (it builds dist/), or `npm run build`\n');
    process.exit(2);
  }
  register();
  entry = pathToFileURL(path.join(src, 'cli', 'main.ts')).href;
}
const { main } = await import(entry);
const code = await main(process.argv.slice(2));
if (typeof code === 'number') process.exitCode = code;
// The command is over (serve and watch return only once stopped, measure after its remote
// clean-up). A handle left open by mistake (an ssh2 socket, a timer) must not keep the process
// alive after its answer: if it is still here after a grace period, with its output written,
// it exits. The timer is unref'd, so a process with nothing left open exits as usual, at once.
// For diagnosis and tests only: IDLEPROBE_DEBUG_HANDLES=1 prints on stderr what is still open
// when the command has returned (ref'd timers, sockets, pipes: getActiveResourcesInfo) and again
// 1 s later if the process is still alive; IDLEPROBE_NO_EXIT_BACKSTOP=1 turns the forced exit off,
// so a test sees a leaked handle as a process that does not exit.
if (process.env.IDLEPROBE_DEBUG_HANDLES === '1') {
  const open = () => JSON.stringify(process.getActiveResourcesInfo());
  setImmediate(() => process.stderr.write(`idleprobe: debug: open when the command returned: ${open()}\n`));
  setTimeout(() => process.stderr.write(`idleprobe: debug: still alive 1 s after the command returned; open: ${open()}\n`), 1000).unref();
}
if (process.env.IDLEPROBE_NO_EXIT_BACKSTOP !== '1') {
  const exitWhenFlushed = () => {
    if (process.stdout.writableLength > 0 || process.stderr.writableLength > 0) setTimeout(exitWhenFlushed, 1000).unref();
    else process.exit();
  };
  setTimeout(exitWhenFlushed, 2000).unref();
}
