// Dependencies between the folders of src/ point one way: no cycle, however long, through any
// import (type-only ones included). The graph comes from TypeScript's own import scanner over the
// real sources (test/tools/import-graph.ts prints it: `node --import tsx test/tools/import-graph.ts`).
import { describe, expect, it } from 'vitest';
import { folderCycles, folderEdges } from '../tools/import-graph.ts';

describe('import graph of src/', () => {
  const edges = folderEdges();

  it('sees the folders and their imports', () => {
    // A scanner that found nothing would pass the cycle check below without checking anything.
    expect(edges.get('cli')?.has('daemon')).toBe(true);
    expect(edges.get('probe')?.has('search')).toBe(true);
    expect(edges.get('app')?.has('exporter')).toBe(true);
  });

  it('has no cycle between folders', () => {
    const cycles = folderCycles(edges).map((c) => `${c.join(' <-> ')}: ${c.flatMap((a) => c.filter((b) => edges.get(a)?.has(b)).map((b) => edges.get(a)!.get(b))).join('; ')}`);
    expect(cycles).toEqual([]);
  });

  it('would report one (the check itself can fail)', () => {
    const withCycle = new Map(edges);
    withCycle.set('search', new Map([...(edges.get('search') ?? []), ['cli', 'search/x.ts → cli/y.ts']]));
    expect(folderCycles(withCycle).some((c) => c.includes('search') && c.includes('cli'))).toBe(true);
  });

  it('keeps daemon/config.ts off the CLI and the error categories below everything', () => {
    expect(edges.get('daemon')?.has('cli')).toBe(false);
    expect(edges.get('exporter')?.has('cli')).toBe(false);
    expect(edges.get('(root)')).toBeUndefined();
  });
});
