// Writes grafana/dashboards/*.json from grafana/tools/dashboards.ts.
// Run: node --import tsx grafana/tools/build-dashboards.ts
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { DASHBOARDS } from './dashboards.ts';

export function renderDashboard(build: () => unknown): string {
  return `${JSON.stringify(build(), null, 2)}\n`;
}

const outDir = path.resolve(import.meta.dirname, '..', 'dashboards');
if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) {
  for (const d of DASHBOARDS) {
    writeFileSync(path.join(outDir, d.file), renderDashboard(d.build));
    process.stdout.write(`wrote ${path.join('grafana', 'dashboards', d.file)}\n`);
  }
}
