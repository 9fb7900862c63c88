// Reads the project's Markdown (README.md, CHANGELOG.md, docs/*.md) the way a reader and GitHub see
// it: the idleprobe command lines in code (blocks and inline spans), the relative links, and the
// anchors each page's headings get. Parsing is markdown-it's, slugs are github-slugger's (the
// algorithm GitHub uses for heading anchors): only the picking of command lines is ours.
import fs from 'node:fs';
import path from 'node:path';
import MarkdownIt from 'markdown-it';
import GithubSlugger from 'github-slugger';

const md = new MarkdownIt({ html: true });

type Token = ReturnType<typeof md.parse>[number];

export interface CodeText {
  file: string;
  line: number;
  /** A fenced block's info string ('' for none), or 'inline' for a code span. */
  kind: string;
  text: string;
}

export interface Link {
  file: string;
  line: number;
  href: string;
}

export interface CommandUse {
  file: string;
  line: number;
  /** The word after `idleprobe` (null when it is a flag: `idleprobe --help`). */
  command: string | null;
  /** Every option written after it (`--json`, `-i`), `=value` removed. */
  flags: string[];
  /** The command line as written, for messages. */
  text: string;
}

/** Visits every token with the source line of the nearest block before it (table cells and
 * inline tokens have no line of their own). */
function walk(tokens: Token[], visit: (t: Token, line: number) => void, line = 1): void {
  let at = line;
  for (const t of tokens) {
    if (t.map) at = t.map[0] + 1;
    visit(t, at);
    if (t.children) walk(t.children, visit, at);
  }
}

export function parse(file: string): { code: CodeText[]; links: Link[] } {
  const tokens = md.parse(fs.readFileSync(file, 'utf8'), {});
  const code: CodeText[] = [];
  const links: Link[] = [];
  walk(tokens, (t, line) => {
    if (t.type === 'fence' || t.type === 'code_block') code.push({ file, line, kind: t.info.trim(), text: t.content });
    else if (t.type === 'code_inline') code.push({ file, line, kind: 'inline', text: t.content });
    else if (t.type === 'link_open') links.push({ file, line, href: String(t.attrGet('href') ?? '') });
  });
  return { code, links };
}

/** The anchors GitHub gives the headings of a Markdown file (duplicates get -1, -2 …). */
export function anchors(file: string): Set<string> {
  const tokens = md.parse(fs.readFileSync(file, 'utf8'), {});
  const slugger = new GithubSlugger();
  const out = new Set<string>();
  tokens.forEach((t, i) => {
    if (t.type !== 'heading_open') return;
    const inline = tokens[i + 1];
    // GitHub slugs the heading's text as rendered: code spans keep their content, markup goes.
    const text = (inline?.children ?? []).filter((c) => c.type === 'text' || c.type === 'code_inline').map((c) => c.content).join('');
    out.add(slugger.slug(text));
  });
  return out;
}

// `idleprobe CMD …`, `npx idleprobe …`, `sudo IDLEPROBE_X=1 node bin/idleprobe.mjs …`: idleprobe in a
// command's position — at the start of a line or code span, after a pipe, `;`, `&&`, `$(` or a quote —
// not a word in output or prose (`# the key idleprobe logs in with`, `kubectl -n idleprobe create`).
const INVOCATION =
  /(?:^|[|;&(]|\$\(|["'])[ \t]*(?:(?:sudo|npx|time|node|exec|[A-Z_][A-Z0-9_]*=\S*)[ \t]+)*(?:\.\/)?(?:idleprobe|bin\/idleprobe\.mjs)[ \t]+(?=[a-z-])/gm;
const SHELL_KINDS = new Set(['inline', '', 'sh', 'bash', 'shell', 'console']);
const END = /\s#|;|&&|\|\||\s\|\s+(?=[a-z])|\n|\s—\s|`/;

/** Every idleprobe invocation written in a piece of code, with its command word and flags. */
export function commandUses(code: CodeText): CommandUse[] {
  const uses: CommandUse[] = [];
  // Output, configs and code (```text, ```json, ```yaml, ```ts …) hold no command lines to check.
  if (!SHELL_KINDS.has(code.kind)) return uses;
  // An inline span may be wrapped over lines in the source: read it as one line.
  const text = code.kind === 'inline' ? code.text.replace(/\s+/g, ' ') : code.text;
  for (const m of text.matchAll(INVOCATION)) {
    const start = m.index + m[0].length;
    const rest = text.slice(start);
    const end = rest.search(END);
    const line = end === -1 ? rest : rest.slice(0, end);
    const words = line.split(/\s+/).filter(Boolean);
    const first = words[0] ?? '';
    const command = first.startsWith('-') ? null : first.replace(/[^a-z-].*$/, '');
    const flags: string[] = [];
    for (const raw of command === null ? words : words.slice(1)) {
      if (raw === '--') break; // what follows is for something else (`npm run x -- --runs 9`)
      const word = raw.replace(/^[[(]+/, '');
      const flag = /^(--?[A-Za-z][\w.-]*)/.exec(word)?.[1];
      if (flag) flags.push(flag.replace(/[.,]+$/, ''));
    }
    const lineNo = code.line + (code.kind === 'inline' ? 0 : text.slice(0, m.index).split('\n').length);
    uses.push({ file: code.file, line: lineNo, command: command || null, flags, text: `idleprobe ${line.trim()}` });
  }
  return uses;
}

/** Options a `--help` text lists (`-i, --identity <file>` gives both), and its sub-commands. */
export function helpOptions(help: string): { flags: Set<string>; commands: Set<string> } {
  const flags = new Set<string>();
  const commands = new Set<string>();
  let section = '';
  for (const line of help.split('\n')) {
    const head = /^(\w[\w ]*):\s*$/.exec(line);
    if (head) {
      section = head[1].toLowerCase();
      continue;
    }
    if (section === 'options') {
      const m = /^ {2}(-\w)?(?:, )?(--[A-Za-z][\w.-]*)?/.exec(line);
      if (m?.[1]) flags.add(m[1]);
      if (m?.[2]) flags.add(m[2]);
    } else if (section === 'commands') {
      const m = /^ {2}([a-z][\w-]*)/.exec(line);
      if (m) commands.add(m[1]);
    }
  }
  return { flags, commands };
}

/** README.md, CHANGELOG.md and every docs/*.md of the repository. */
export function projectMarkdown(repo: string): string[] {
  const docs = fs.readdirSync(path.join(repo, 'docs')).filter((f) => f.endsWith('.md')).map((f) => path.join(repo, 'docs', f));
  return [path.join(repo, 'README.md'), path.join(repo, 'CHANGELOG.md'), ...docs.sort()].filter((f) => fs.existsSync(f));
}
