// Invalid configs as files (test/fixtures/config/*.yml), each naming its exact expected problems in
// `# error:` lines, run through the real entry point like blackbox_exporter's TestLoadBadConfigs:
// `idleprobe serve --config FILE --config.check` must exit 2 and print exactly those problems.
// Adding a case is adding a file.
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const REPO = path.resolve(import.meta.dirname, '..', '..');
const DIR = path.join(REPO, 'test', 'fixtures', 'config');
const BIN = path.join(REPO, 'bin', 'idleprobe.mjs');
const fixtures = fs.readdirSync(DIR).filter((f) => f.endsWith('.yml')).sort();

function configCheck(file: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const env = { ...process.env };
    delete env.IDLEPROBE_FIXTURE_UNSET;
    execFile(process.execPath, [BIN, 'serve', '--config', file, '--config.check'], { cwd: REPO, env, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr });
    });
  });
}

describe('invalid config fixtures through `serve --config.check`', () => {
  it('there are fixtures, each with its expected problems', () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(15);
    for (const f of fixtures) expect(fs.readFileSync(path.join(DIR, f), 'utf8'), f).toMatch(/^# error: /m);
  });

  it.concurrent.each(fixtures)('%s', async (name) => {
    const text = fs.readFileSync(path.join(DIR, name), 'utf8');
    const expected = [...text.matchAll(/^# error: (.*)$/gm)].map((m) => m[1].replaceAll('{dir}', DIR));
    const relative = path.join('test', 'fixtures', 'config', name);
    const { code, stdout, stderr } = await configCheck(relative);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toBe(`idleprobe: ${relative}: invalid config:\n${expected.map((p) => `  ${p}\n`).join('')}`);
  });
});
