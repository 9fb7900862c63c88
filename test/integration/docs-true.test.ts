// The README and docs stay true: every idleprobe example uses a command and flags that exist
// (checked against each command's --help through the real CLI), every relative link reaches a
// file (and heading) that exists, every `npm run` script and every repository path written in code
// exists, and the README's two quick-start commands are the ones CI and package.json really use.
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { repo } from './daemon-harness.ts';
import { idleprobe, show } from './cli-harness.ts';
import { anchors, commandUses, helpOptions, parse, projectMarkdown, type CodeText } from '../support/markdown-docs.ts';

const files = projectMarkdown(repo);
const parsed = files.map((f) => ({ file: f, ...parse(f) }));
const rel = (f: string) => path.relative(repo, f);
const where = (x: { file: string; line: number }) => `${rel(x.file)}:${x.line}`;
// The CHANGELOG records what commands and flags were: its examples are history, its links must work.
const current = parsed.filter((p) => rel(p.file) !== 'CHANGELOG.md');
const code: CodeText[] = current.flatMap((p) => p.code);
const pkg: { scripts: Record<string, string>; bin: Record<string, string> } = JSON.parse(fs.readFileSync(path.join(repo, 'package.json'), 'utf8'));

describe('README and docs: idleprobe examples use commands and flags that exist', () => {
  const help = new Map<string, { flags: Set<string>; commands: Set<string> }>();

  beforeAll(async () => {
    const top = await idleprobe(['--help']);
    if (top.code !== 0) throw new Error(`idleprobe --help: ${show(top)}`);
    help.set('', helpOptions(top.stdout));
    for (const cmd of help.get('')!.commands) {
      if (cmd === 'help') continue;
      const r = await idleprobe([cmd, '--help']);
      if (r.code !== 0) throw new Error(`idleprobe ${cmd} --help: ${show(r)}`);
      help.set(cmd, helpOptions(r.stdout));
    }
  }, 120_000);

  it('the CLI lists its commands, and the docs show each of them at least once', () => {
    const commands = [...help.get('')!.commands].filter((c) => c !== 'help');
    expect(commands.length).toBeGreaterThanOrEqual(8);
    const shown = new Set(code.flatMap(commandUses).map((u) => u.command));
    expect(commands.filter((c) => !shown.has(c))).toEqual([]);
  });

  it('every `idleprobe CMD …` in README.md and docs/*.md names a command of `idleprobe --help` and flags of its `--help`', () => {
    const uses = code.flatMap(commandUses);
    // The scanner finds the examples (a floor, so a scanner that finds nothing cannot pass).
    expect(uses.length).toBeGreaterThan(80);
    const wrong: string[] = [];
    for (const u of uses) {
      const options = help.get(u.command ?? '');
      if (!options) {
        wrong.push(`${where(u)}: "${u.command}" is not an idleprobe command — ${u.text}`);
        continue;
      }
      // --help and -h work on every command without being listed as its option.
      const unknown = u.flags.filter((f) => !options.flags.has(f) && f !== '--help' && f !== '-h');
      if (unknown.length) wrong.push(`${where(u)}: idleprobe ${u.command ?? ''} has no ${unknown.join(', ')} — ${u.text}`);
    }
    expect(wrong).toEqual([]);
  });

  it('a misspelt flag or command is caught (the check can fail)', () => {
    const probe: CodeText = { file: 'x.md', line: 1, kind: 'sh', text: 'npx idleprobe measure alice@h --jsn\nidleprobe mesure h\ntcpdump -w - | idleprobe analyze - --json | head -1\n' };
    const uses = commandUses(probe);
    expect(uses.map((u) => [u.command, u.flags])).toEqual([['measure', ['--jsn']], ['mesure', []], ['analyze', ['--json']]]);
    expect(help.get('measure')!.flags.has('--jsn')).toBe(false);
    expect(help.get('measure')!.flags.has('--json')).toBe(true);
    expect(help.has('mesure')).toBe(false);
  });
});

describe('README and docs: links', () => {
  it('every relative link reaches a file that exists, and a #heading that exists in it', () => {
    const broken: string[] = [];
    for (const p of parsed) {
      for (const l of p.links) {
        if (/^[a-z][a-z0-9+.-]*:/i.test(l.href)) continue; // https:, mailto: — not ours to check offline
        const hash = l.href.indexOf('#');
        const target = hash === -1 ? l.href : l.href.slice(0, hash);
        const anchor = hash === -1 ? '' : l.href.slice(hash + 1);
        const file = target === '' ? p.file : path.resolve(path.dirname(p.file), decodeURI(target));
        if (!file.startsWith(repo + path.sep) && file !== repo) {
          broken.push(`${where(l)}: ${l.href} leaves the repository`);
          continue;
        }
        if (!fs.existsSync(file)) {
          broken.push(`${where(l)}: ${l.href}: no file ${rel(file)}`);
          continue;
        }
        if (anchor && file.endsWith('.md') && !anchors(file).has(decodeURIComponent(anchor))) {
          broken.push(`${where(l)}: ${l.href}: ${rel(file)} has no heading #${anchor}`);
        }
      }
    }
    expect(broken).toEqual([]);
  });

  it('anchors are GitHub\'s: code spans and punctuation in a heading as GitHub slugs them', () => {
    const prober = anchors(path.join(repo, 'docs', 'prober.md'));
    expect(prober.has('exit-codes-the-one-rule-for-every-command')).toBe(true);
    expect(prober.has('targets-host-keys-and-jump-hosts-srcprobeendpointts')).toBe(true);
    expect(anchors(path.join(repo, 'docs', 'deploy.md')).has('4-bastion-hosts-passive')).toBe(true);
  });

  it('README links every page of docs/, and docs/README.md indexes every page', () => {
    const linked = (file: string) => new Set(parsed.find((p) => p.file === file)!.links.map((l) => path.resolve(path.dirname(file), l.href.split('#')[0])));
    const pages = fs.readdirSync(path.join(repo, 'docs')).filter((f) => f.endsWith('.md') && f !== 'README.md').map((f) => path.join(repo, 'docs', f));
    const fromIndex = linked(path.join(repo, 'docs', 'README.md'));
    expect(pages.filter((p) => !fromIndex.has(p)).map(rel)).toEqual([]);
    const fromReadme = linked(path.join(repo, 'README.md'));
    expect(fromReadme.has(path.join(repo, 'docs', 'README.md'))).toBe(true);
    expect(fromReadme.has(path.join(repo, 'CHANGELOG.md'))).toBe(true);
    expect(pages.filter((p) => !fromReadme.has(p)).map(rel)).toEqual([]);
  });
});

describe('README and docs: the commands behind the figures exist', () => {

  it('every `npm run SCRIPT` names a script of package.json', () => {
    const missing: string[] = [];
    for (const c of code) {
      for (const m of c.text.matchAll(/npm run ([\w:.*-]+)/g)) if (!m[1].includes('*') && !(m[1] in pkg.scripts)) missing.push(`${where(c)}: npm run ${m[1]}`);
    }
    expect(missing).toEqual([]);
  });

  const ignored = fs.readFileSync(path.join(repo, '.gitignore'), 'utf8').split('\n').map((l) => l.trim().replace(/^\//, '')).filter((l) => l && !l.startsWith('#'));

  it('every repository path written in code (test/…, src/…, docs/…, deploy/…, grafana/…, scripts/…, bin/…) exists', () => {
    const missing: string[] = [];
    for (const c of code) {
      for (const m of c.text.matchAll(/(?:^|[\s`'"(=])((?:test|src|docs|deploy|grafana|scripts|bin)\/\S*)/g)) {
        const p = m[1].replace(/[`'"),.:;]+$/, '');
        // Placeholders and patterns are not paths (`test/unit/capture-*.test.ts`, `…`, `<kind>`), and
        // what .gitignore lists is made by a run (test/artifacts/).
        if (/[*…<>{}$|]/.test(p) || ignored.some((i) => p.startsWith(i))) continue;
        if (!fs.existsSync(path.join(repo, p))) missing.push(`${where(c)}: ${p}`);
      }
    }
    expect([...new Set(missing)]).toEqual([]);
  });
});

describe('README: the quick start is what CI and package.json run', () => {
  const readme = parsed.find((p) => rel(p.file) === 'README.md')!;
  const shell = readme.code.filter((c) => c.kind === 'sh').map((c) => c.text.trim());
  const ci = fs.readFileSync(path.join(repo, '.ci', 'run'), 'utf8');

  it('the first command sets up and runs the demo: `npm ci && npx idleprobe demo`, the install CI does and the bin package.json ships', () => {
    expect(shell[0]).toBe('npm ci && npx idleprobe demo');
    expect(ci).toMatch(/^npm ci\b/m);
    expect(pkg.bin.idleprobe).toBe('bin/idleprobe.mjs');
    expect(fs.existsSync(path.join(repo, pkg.bin.idleprobe))).toBe(true);
    // npm ci builds dist/ (the prepare script), so the demo runs compiled code on a fresh clone.
    expect(pkg.scripts.prepare).toMatch(/scripts\/build\.mjs/);
  });

  it('the second runs the whole test suite: `npm test`, what .ci/run runs', () => {
    expect(shell[1]).toBe('npm test');
    expect(ci).toMatch(/^npm test\s*$/m);
    expect(pkg.scripts.test).toMatch(/vitest run\s*$/);
  });
});
