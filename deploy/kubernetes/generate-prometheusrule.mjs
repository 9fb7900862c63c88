#!/usr/bin/env node
// Writes deploy/kubernetes/prometheusrule.yaml: the Prometheus Operator PrometheusRule whose spec.groups are
// exactly deploy/prometheus/idleprobe-rules.yml (the one source of truth). test/unit/rules-deploy.test.ts
// fails when the two drift apart.
//   node deploy/kubernetes/generate-prometheusrule.mjs           # write
//   node deploy/kubernetes/generate-prometheusrule.mjs --check   # exit 1 if out of date
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';

const here = path.dirname(fileURLToPath(import.meta.url));
const rulesFile = path.join(here, '..', 'prometheus', 'idleprobe-rules.yml');
const outFile = path.join(here, 'prometheusrule.yaml');

export function renderPrometheusRule(rulesText) {
  const rules = parse(rulesText);
  const resource = {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    metadata: {
      name: 'idleprobe',
      labels: { 'app.kubernetes.io/component': 'alerting', role: 'alert-rules' },
    },
    spec: { groups: rules.groups },
  };
  const header =
    '# GENERATED from deploy/prometheus/idleprobe-rules.yml by deploy/kubernetes/generate-prometheusrule.mjs.\n' +
    '# Do not edit: change the rules file and re-run the generator.\n';
  return header + stringify(resource, { lineWidth: 0 });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const rendered = renderPrometheusRule(readFileSync(rulesFile, 'utf8'));
  if (process.argv.includes('--check')) {
    const current = readFileSync(outFile, 'utf8');
    if (current !== rendered) {
      process.stderr.write(`${path.relative(process.cwd(), outFile)} is out of date: run node deploy/kubernetes/generate-prometheusrule.mjs\n`);
      process.exit(1);
    }
  } else {
    writeFileSync(outFile, rendered);
    process.stdout.write(`wrote ${path.relative(process.cwd(), outFile)}\n`);
  }
}
