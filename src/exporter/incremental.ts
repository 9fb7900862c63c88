// Renders the per-target part of /metrics incrementally: each target's samples are rendered by
// prom-client on their own and kept until that target changes, then spliced under the shared
// HELP/TYPE headers. With 1,000 targets a change to one of them (a session opened, a result landed)
// re-renders 1/1000 of the text instead of all ~30,000 series.
import type { TargetSnapshot } from '../read-model/read-model.ts';

/** Renders the exposition text of the given snapshots (prom-client, a fresh registry). */
export type RenderSnapshots = (snapshots: TargetSnapshot[]) => Promise<string>;

interface Family {
  name: string;
  /** "# HELP …\n# TYPE …\n" */
  header: string;
}

/** Splits exposition text into families (in order) and each family's sample lines. */
export function splitFamilies(text: string): { families: Family[]; samples: Map<string, string> } {
  const families: Family[] = [];
  const samples = new Map<string, string>();
  let current: Family | null = null;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('# HELP ')) {
      const name = line.slice(7, line.indexOf(' ', 7) === -1 ? undefined : line.indexOf(' ', 7));
      current = { name, header: `${line}\n` };
      families.push(current);
      samples.set(name, '');
    } else if (line.startsWith('# TYPE ')) {
      if (current) current.header += `${line}\n`;
    } else if (current) {
      samples.set(current.name, `${samples.get(current.name)}${line}\n`);
    }
  }
  return { families, samples };
}

/** Target names are restricted to [A-Za-z0-9_.:@-] by the config schema: no escaping to undo. */
const TARGET_LABEL = /[{,]target="([^"]*)"/;

export class IncrementalTargetText {
  private families: Family[] | null = null;
  private readonly fragments = new Map<string, { version: number; samples: Map<string, string> }>();

  /** Targets rendered afresh by the last call (for tests and the benchmark). */
  lastRerendered = 0;

  constructor(private readonly renderSnapshots: RenderSnapshots) {}

  async render(snapshots: TargetSnapshot[]): Promise<string> {
    if (!this.families) this.families = splitFamilies(await this.renderSnapshots([])).families;
    // Fragments of this call are kept aside: a concurrent call for a newer version may replace or
    // drop entries of the shared cache while this one is still assembling.
    const mine = new Map<string, Map<string, string>>();
    const stale: TargetSnapshot[] = [];
    for (const s of snapshots) {
      const cached = this.fragments.get(s.name);
      if (cached && cached.version === s.version) mine.set(s.name, cached.samples);
      else stale.push(s);
    }
    if (stale.length > 0) {
      // One registry for every stale target (cheaper than one each), split back by the target label.
      const fresh = new Map(stale.map((s) => [s.name, new Map<string, string>()]));
      const { samples } = splitFamilies(await this.renderSnapshots(stale));
      for (const [family, text] of samples) {
        for (const line of text.split('\n')) {
          const target = TARGET_LABEL.exec(line)?.[1];
          const into = target === undefined ? undefined : fresh.get(target);
          if (into) into.set(family, `${into.get(family) ?? ''}${line}\n`);
        }
      }
      for (const s of stale) {
        mine.set(s.name, fresh.get(s.name)!);
        this.fragments.set(s.name, { version: s.version, samples: fresh.get(s.name)! });
      }
    }
    const rerendered = stale.length;
    this.lastRerendered = rerendered;
    for (const name of [...this.fragments.keys()]) if (!mine.has(name)) this.fragments.delete(name);
    const parts: string[] = [];
    for (const f of this.families) {
      parts.push(f.header);
      for (const s of snapshots) parts.push(mine.get(s.name)!.get(f.name) ?? '');
    }
    return parts.join('');
  }
}
