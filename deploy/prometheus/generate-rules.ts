// Writes the generated values into deploy/prometheus/idleprobe-rules.yml from ./policy.ts. The rules
// file stays the hand-written source of everything else (its comments, expressions, tests); only the
// expressions marked below take their thresholds from the policy, so a threshold the dashboards
// share is written once. test/unit/rules.test.ts fails when the file is out of date.
//   node --import tsx deploy/prometheus/generate-rules.ts           # write
//   node --import tsx deploy/prometheus/generate-rules.ts --check   # exit 1 if out of date
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { MEASUREMENT_STALE_HOURS } from './policy.ts';

export const RULES_FILE = path.join(import.meta.dirname, 'idleprobe-rules.yml');

/** Each generated expression: the line it is on (one match, anywhere in the file) and what it becomes. */
const GENERATED: { what: string; line: RegExp; render: (indent: string) => string }[] = [
  {
    what: 'IdleprobeMeasurementStale threshold (MEASUREMENT_STALE_HOURS)',
    line: /^( *)expr: idleprobe:last_measurement_age_seconds:current > .*$/m,
    render: (indent) => `${indent}expr: idleprobe:last_measurement_age_seconds:current > ${MEASUREMENT_STALE_HOURS} * 3600`,
  },
];

/** The rules text with every generated expression rewritten; throws when a marked line is missing or ambiguous. */
export function renderRules(text: string): string {
  let out = text;
  for (const g of GENERATED) {
    const all = new RegExp(g.line.source, 'gm');
    const found = [...out.matchAll(all)];
    if (found.length !== 1) throw new Error(`${RULES_FILE}: expected one line for the ${g.what}, found ${found.length}`);
    out = out.replace(g.line, (_line, indent: string) => g.render(indent));
  }
  return out;
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) {
  const current = readFileSync(RULES_FILE, 'utf8');
  const rendered = renderRules(current);
  if (process.argv.includes('--check')) {
    if (rendered !== current) {
      process.stderr.write(`${path.relative(process.cwd(), RULES_FILE)} is out of date: run npm run generate:deploy\n`);
      process.exit(1);
    }
  } else {
    writeFileSync(RULES_FILE, rendered);
    process.stdout.write(`wrote ${path.relative(process.cwd(), RULES_FILE)}\n`);
  }
}
