// Dependencies between the folders of src/ point one way: no cycle, however long, through any
// import (type-only ones included). The graph comes from TypeScript's own import scanner over the
// real sources (test/tools/import-graph.ts prints it: `node --import tsx test/tools/import-graph.ts`).
// Some folders may not import some others at all (FORBIDDEN below): the exporter and the daemon meet
// only in the neutral read model.
import { describe, expect, it } from 'vitest';
import { folderCycles, folderEdges, forbiddenEdges } from '../tools/import-graph.ts';

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

  // The exporter shows the daemon through the read model (src/read-model/, wired by app/read-model.ts):
  // it imports no daemon module, not even for a type; the daemon knows nothing of HTTP; and the read
  // model is neutral ground that imports neither side.
  const FORBIDDEN: Record<string, string[]> = {
    exporter: ['daemon', 'app', 'cli'],
    daemon: ['exporter', 'app', 'cli'],
    'read-model': ['daemon', 'exporter', 'app', 'cli'],
  };

  it('the exporter depends on the read model, not on the daemon (and the read model on neither)', () => {
    expect(edges.get('exporter')?.has('read-model')).toBe(true);
    expect(edges.get('daemon')?.has('read-model')).toBe(true);
    expect(forbiddenEdges(edges, FORBIDDEN)).toEqual([]);
  });

  it('would report an exporter module importing a daemon module (the check itself can fail)', () => {
    const withEdge = new Map(edges);
    withEdge.set('exporter', new Map([...(edges.get('exporter') ?? []), ['daemon', 'exporter/x.ts → daemon/daemon.ts']]));
    expect(forbiddenEdges(withEdge, FORBIDDEN)).toEqual(['exporter -> daemon (exporter/x.ts → daemon/daemon.ts)']);
  });
});
