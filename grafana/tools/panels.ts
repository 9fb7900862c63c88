// Small builders for Grafana dashboard JSON (schemaVersion 39, Grafana 10/11). Pure functions: they return
// plain objects; build-dashboards.ts lays them out and writes the files.

export const DS = { type: 'prometheus', uid: '${datasource}' } as const;

export interface Query {
  expr: string;
  legend?: string;
  instant?: boolean;
  table?: boolean;
  /** Minimum step, e.g. "1h" for 30-day panels. */
  interval?: string;
}

export interface Panel {
  type: string;
  title: string;
  description: string;
  gridPos: { x: number; y: number; w: number; h: number };
  [key: string]: unknown;
}

function targets(queries: Query[]) {
  return queries.map((q, i) => ({
    datasource: DS,
    refId: String.fromCharCode(65 + i),
    expr: q.expr,
    legendFormat: q.legend ?? '__auto',
    range: !q.instant,
    instant: Boolean(q.instant),
    format: q.table ? 'table' : 'time_series',
    ...(q.interval ? { interval: q.interval } : {}),
  }));
}

type Size = { w: number; h: number };

function base(type: string, title: string, description: string, size: Size, queries: Query[]): Panel {
  return { type, title, description, datasource: DS, gridPos: { x: 0, y: 0, ...size }, targets: targets(queries) };
}

export function timeseries(
  title: string,
  description: string,
  size: Size,
  queries: Query[],
  opts: { unit?: string; overrides?: unknown[]; timeFrom?: string; bars?: boolean; fill?: number; stack?: boolean; repeat?: string } = {},
): Panel {
  return {
    ...base('timeseries', title, description, size, queries),
    ...(opts.timeFrom ? { timeFrom: opts.timeFrom } : {}),
    ...(opts.repeat ? { repeat: opts.repeat, repeatDirection: 'h', maxPerRow: 3 } : {}),
    fieldConfig: {
      defaults: {
        unit: opts.unit ?? 's',
        min: 0,
        custom: {
          drawStyle: opts.bars ? 'bars' : 'line',
          lineInterpolation: 'stepAfter', // cached results change in steps, not ramps
          fillOpacity: opts.fill ?? (opts.bars ? 80 : 0),
          spanNulls: true,
          showPoints: 'never',
          stacking: { mode: opts.stack ? 'normal' : 'none', group: 'A' },
        },
      },
      overrides: opts.overrides ?? [],
    },
    options: { legend: { displayMode: 'table', placement: 'bottom', calcs: ['lastNotNull', 'min', 'max'] }, tooltip: { mode: 'multi', sort: 'none' } },
  };
}

export interface Threshold { color: string; value: number | null }

export function stat(
  title: string,
  description: string,
  size: Size,
  queries: Query[],
  opts: { unit?: string; thresholds?: Threshold[]; mappings?: unknown[]; decimals?: number; textMode?: string } = {},
): Panel {
  return {
    ...base('stat', title, description, size, queries.map((q) => ({ ...q, instant: true }))),
    fieldConfig: {
      defaults: {
        unit: opts.unit ?? 's',
        ...(opts.decimals !== undefined ? { decimals: opts.decimals } : {}),
        thresholds: { mode: 'absolute', steps: opts.thresholds ?? [{ color: 'blue', value: null }] },
        mappings: opts.mappings ?? [],
        color: { mode: 'thresholds' },
      },
      overrides: [],
    },
    options: {
      reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
      colorMode: 'background',
      graphMode: 'none',
      textMode: opts.textMode ?? 'value_and_name',
      justifyMode: 'auto',
      orientation: 'auto',
    },
  };
}

export function table(
  title: string,
  description: string,
  size: Size,
  queries: Query[],
  opts: { transformations: unknown[]; overrides?: unknown[]; unit?: string; mappings?: unknown[] },
): Panel {
  return {
    ...base('table', title, description, size, queries.map((q) => ({ ...q, instant: true, table: true }))),
    transformations: opts.transformations,
    fieldConfig: {
      defaults: { unit: opts.unit ?? 'none', mappings: opts.mappings ?? [], custom: { align: 'auto', cellOptions: { type: 'auto' } } },
      overrides: opts.overrides ?? [],
    },
    options: { showHeader: true, cellHeight: 'sm', footer: { show: false, reducer: ['sum'], fields: '' } },
  };
}

export function stateTimeline(title: string, description: string, size: Size, queries: Query[], mappings: unknown[]): Panel {
  return {
    ...base('state-timeline', title, description, size, queries),
    fieldConfig: {
      defaults: { mappings, color: { mode: 'thresholds' }, thresholds: { mode: 'absolute', steps: [{ color: 'transparent', value: null }] }, custom: { fillOpacity: 80, lineWidth: 0 } },
      overrides: [],
    },
    options: { mergeValues: true, showValue: 'auto', alignValue: 'left', rowHeight: 0.8, legend: { showLegend: true, displayMode: 'list', placement: 'bottom' } },
  };
}

export function row(title: string): Panel {
  return { type: 'row', title, description: '', collapsed: false, gridPos: { x: 0, y: 0, w: 24, h: 1 }, panels: [] };
}

/** Value mapping helpers. */
export function valueMap(entries: Record<string, { text: string; color: string }>): unknown {
  const options: Record<string, { text: string; color: string; index: number }> = {};
  Object.entries(entries).forEach(([k, v], index) => (options[k] = { ...v, index }));
  return { type: 'value', options };
}

/** Override: make the series named `upper` fill down to the series named `lower` — the bracket band. */
export function bandOverrides(pairs: { lower: string; upper: string; color: string }[]): unknown[] {
  return pairs.flatMap(({ lower, upper, color }) => [
    {
      matcher: { id: 'byName', options: upper },
      properties: [
        { id: 'custom.fillBelowTo', value: lower },
        { id: 'custom.fillOpacity', value: 25 },
        { id: 'custom.lineWidth', value: 0 },
        { id: 'color', value: { mode: 'fixed', fixedColor: color } },
      ],
    },
    {
      matcher: { id: 'byName', options: lower },
      properties: [
        { id: 'custom.lineWidth', value: 0 },
        { id: 'color', value: { mode: 'fixed', fixedColor: color } },
      ],
    },
  ]);
}

/** Lays panels out left to right, wrapping at 24 columns; rows start a new line. Assigns ids. */
export function layout(panels: Panel[]): Panel[] {
  let x = 0;
  let y = 0;
  let rowHeight = 0;
  return panels.map((p, i) => {
    const { w, h } = p.gridPos;
    if (p.type === 'row' || x + w > 24) {
      y += rowHeight;
      x = 0;
      rowHeight = 0;
    }
    const placed = { ...p, id: i + 1, gridPos: { x, y, w, h } };
    x += w;
    rowHeight = Math.max(rowHeight, h);
    if (p.type === 'row') {
      y += h;
      x = 0;
      rowHeight = 0;
    }
    return placed;
  });
}
