// The published shape of the CLI (issue 12): `npm pack` gives a tarball that `npm i -g` installs
// and whose `idleprobe demo` runs — compiled JavaScript from dist/, no TypeScript, no tsx. The
// install goes into a temp prefix (never the machine's global one), preferring npm's cache (`npm ci`
// just filled it with the tarballs; the registry answers the version look-ups). Install scripts are skipped (better-sqlite3 would compile for minutes;
// `demo` never loads it), which is also why this checks that the tarball holds no sources.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const dir = mkdtempSync(path.join(tmpdir(), 'idleprobe-pack-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd: opts.cwd ?? REPO, env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 180_000, maxBuffer: 8 << 20 }, (err, stdout, stderr) => {
      const code = err && typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : err ? null : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

function newestSourceMtime(d: string): number {
  let newest = 0;
  for (const e of readdirSync(d, { withFileTypes: true })) {
    const p = path.join(d, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestSourceMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

describe('npm pack → npm i -g (temp prefix) → idleprobe demo', () => {
  it('installs and runs the compiled CLI', async () => {
    // `npm test` builds first; packing a stale dist/ would test old code.
    const stamp = path.join(REPO, 'dist', '.build-stamp');
    expect(existsSync(stamp), 'dist/ is not built: run `npm run build` (npm test does)').toBe(true);
    expect(newestSourceMtime(path.join(REPO, 'src')), 'dist/ is older than src/: run `npm run build`').toBeLessThanOrEqual(statSync(stamp).mtimeMs);

    const pack = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir]);
    expect(pack.code, pack.stderr).toBe(0);
    const [info] = JSON.parse(pack.stdout) as { filename: string; files: { path: string }[] }[];
    const files = info.files.map((f) => f.path);
    expect(files).toContain('dist/cli/main.js');
    expect(files).toContain('bin/idleprobe.mjs');
    // The README links the CHANGELOG and the docs index: they ship with it.
    expect(files).toEqual(expect.arrayContaining(['README.md', 'CHANGELOG.md', 'docs/README.md']));
    expect(files.filter((f) => f.endsWith('.ts'))).toEqual([]);

    const prefix = path.join(dir, 'prefix');
    const env = { ...process.env, npm_config_prefix: prefix, npm_config_update_notifier: 'false' };
    const install = await run('npm', ['install', '--global', '--prefix', prefix, '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund', path.join(dir, info.filename)], { env, cwd: dir });
    expect(install.code, install.stderr).toBe(0);
    const installed = path.join(prefix, 'lib', 'node_modules', 'idleprobe');
    expect(existsSync(path.join(installed, 'src')), 'the package ships no sources').toBe(false);
    expect(existsSync(path.join(installed, 'node_modules', 'tsx')), 'tsx is not a runtime dependency').toBe(false);
    expect(JSON.parse(readFileSync(path.join(installed, 'package.json'), 'utf8')).name).toBe('idleprobe');

    const bin = path.join(prefix, 'bin', 'idleprobe');
    const version = await run(bin, ['--version'], { cwd: dir, env });
    expect(version.code, version.stderr).toBe(0);
    expect(version.stdout.trim()).toBe('0.1.0');
    const demo = await run(bin, ['demo', '--timeout', '2', '--mode', 'reset', '--direction', 'outbound', '--json'], { cwd: dir, env, timeoutMs: 90_000 });
    expect(demo.code, demo.stderr).toBe(0);
    const doc = JSON.parse(demo.stdout);
    expect(doc.results[0].verdict).toBe('timeout');
    expect(Math.abs(doc.results[0].estimateSeconds - 2)).toBeLessThanOrEqual(1);
  }, 300_000);
});
