// The import graph of src/ between its top-level folders (cli, app, daemon, exporter, probe, …),
// from every static import, `export … from`, `import type` and `import('…')` in each .ts file.
// Written by hand over TypeScript's own pre-processor (ts.preProcessFile, no regexes): madge and
// dependency-cruiser report cycles between modules, and the rule here is about folders, which would
// need a custom pass over their output anyway; this is ~50 lines with no new dependency.
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

export const SRC = path.resolve(import.meta.dirname, '..', '..', 'src');

/** A file's folder under src/ ('(root)' for src/*.ts). */
export function folderOf(file: string): string {
  const rel = path.relative(SRC, file).split(path.sep);
  return rel.length > 1 ? rel[0] : '(root)';
}

function tsFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? tsFiles(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

/** Folder → folder edges, each with one import that makes it (file → imported file). */
export function folderEdges(): Map<string, Map<string, string>> {
  const edges = new Map<string, Map<string, string>>();
  for (const file of tsFiles(SRC)) {
    const info = ts.preProcessFile(fs.readFileSync(file, 'utf8'), true, true);
    for (const ref of info.importedFiles) {
      if (!ref.fileName.startsWith('.')) continue; // packages and node: builtins
      const target = path.resolve(path.dirname(file), ref.fileName);
      if (!target.startsWith(SRC + path.sep)) continue;
      const [from, to] = [folderOf(file), folderOf(target)];
      if (from === to) continue;
      if (!edges.has(from)) edges.set(from, new Map());
      if (!edges.get(from)!.has(to)) edges.get(from)!.set(to, `${path.relative(SRC, file)} → ${path.relative(SRC, target)}`);
    }
  }
  return edges;
}

/** Every cycle between folders, as the folders of each strongly connected component (Tarjan). */
export function folderCycles(edges = folderEdges()): string[][] {
  const nodes = new Set([...edges.keys(), ...[...edges.values()].flatMap((m) => [...m.keys()])]);
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v)?.keys() ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1) out.push(scc.sort());
    }
  };
  for (const v of nodes) if (!idx.has(v)) visit(v);
  return out;
}

/** The edges `rules` forbid (folder → folders it may not import), as `from -> to (the import that makes it)`. */
export function forbiddenEdges(edges: Map<string, Map<string, string>>, rules: Record<string, string[]>): string[] {
  return Object.entries(rules).flatMap(([from, tos]) => tos.filter((to) => edges.get(from)?.has(to)).map((to) => `${from} -> ${to} (${edges.get(from)?.get(to)})`));
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) {
  const edges = folderEdges();
  for (const [from, tos] of [...edges].sort()) for (const [to, why] of [...tos].sort()) process.stdout.write(`${from} -> ${to}   (${why})\n`);
  const cycles = folderCycles(edges);
  process.stdout.write(cycles.length ? `cycles:\n${cycles.map((c) => `  ${c.join(' <-> ')}`).join('\n')}\n` : 'no cycles\n');
}
