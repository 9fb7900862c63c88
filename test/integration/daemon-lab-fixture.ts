// The setup the daemon-against-demo-lab tests share (daemon-serve, daemon-heartbeat,
// daemon-heartbeat-proxy, daemon-locate): a temp dir with the config and history paths, the demo lab
// started in its own process before the file's tests and every child stopped after them (by the
// harness, by PID), the target's connection lines for the config, one way to read a sample from a
// scrape, and the promtool check.
import { afterAll, beforeAll, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startLabProcess, stopChildren, type LabFacts } from './daemon-harness.ts';

export interface DaemonLabFixture {
  dir: string;
  configFile: string;
  historyFile: string;
  /** The demo lab's facts (available once beforeAll has run). */
  readonly lab: LabFacts;
}

/**
 * Registers beforeAll/afterAll for one test file: starts the demo lab (middlebox timeout, mode), then
 * `prepare` writes the config (and anything else) for it; afterwards stops every child (SIGTERM lets
 * the lab remove its temp dir; a child still alive after the bound is killed and fails the file) and
 * removes the temp dir.
 */
export function useDaemonLab(dirPrefix: string, timeoutSeconds: number, mode: string, prepare: (fixture: DaemonLabFixture) => void): DaemonLabFixture {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), dirPrefix));
  let facts: LabFacts | undefined;
  const fixture: DaemonLabFixture = {
    dir,
    configFile: path.join(dir, 'idleprobe.yml'),
    historyFile: path.join(dir, 'history.sqlite'),
    get lab(): LabFacts {
      if (!facts) throw new Error('the demo lab has not started (useDaemonLab: read .lab inside a test or beforeAll)');
      return facts;
    },
  };
  beforeAll(async () => {
    facts = (await startLabProcess(timeoutSeconds, mode)).facts;
    prepare(fixture);
  }, 30_000);
  afterAll(async () => {
    try {
      await stopChildren();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
  return fixture;
}

/** The connection lines of a config target that reaches the demo lab (indented for a `targets:` list item). */
export function labTargetYaml(lab: LabFacts): string {
  return `    host: ${lab.host}
    port: ${lab.port}
    user: ${lab.user}
    private_key_file: ${lab.privateKeyPath}
    host_key_sha256: "${lab.hostKeySha256}"
`;
}

/** The `global:` section of the tests that run one target fast: no jitter, generous connect limits. */
export const FAST_GLOBAL_YAML = `global:
  jitter_seconds: 0
  max_sessions: 16
  max_connects_per_minute: 600
  connect_stagger_ms: 100
`;

/** The value of series `name{labels}` in a Prometheus text scrape (labels '' also finds an unlabelled `name value`). */
export function sample(text: string, name: string, labels: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`) || (labels === '' && l.startsWith(`${name} `)));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** `promtool check metrics` accepts the scrape without a word. */
export function expectPromtoolClean(scrape: string): void {
  const promtool = spawnSync('promtool', ['check', 'metrics'], { input: scrape, encoding: 'utf8', timeout: 20_000 });
  expect(`${promtool.stdout}${promtool.stderr}`).toBe('');
  expect(promtool.status).toBe(0);
}
