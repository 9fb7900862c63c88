// `npm run build` (also run by `prepare`, i.e. `npm ci`, and by `npm test`): src/ → dist/ with tsc,
// then a stamp whose mtime bin/idleprobe.mjs compares against the sources (never run a stale dist/).
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const started = Date.now();
rmSync(path.join(root, 'dist'), { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.build.json')], { stdio: 'inherit', cwd: root });
mkdirSync(path.join(root, 'dist'), { recursive: true });
// The stamp records when the sources were read: edits made after `started` make dist/ stale.
const stamp = path.join(root, 'dist', '.build-stamp');
writeFileSync(stamp, '');
utimesSync(stamp, new Date(started), new Date(started));
