// The deployment files around the rules and dashboards: the Kubernetes PrometheusRule is exactly the rules
// file, the compose stack wires idleprobe + Prometheus (with the rules) + Grafana (with the provisioning),
// the example configs pass the daemon's own `--config.check`, and the Dockerfile, StatefulSet and systemd
// unit have the properties the issue asks for (no Docker engine or cluster here: what can be checked
// statically is checked; systemd-analyze and promtool validate where installed).
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { validate as lintDockerfile } from 'dockerfile-utils';
import { DEFAULT_LISTEN_ADDRESS, parseListenAddress } from '../../src/daemon/listen-address.ts';

const repo = path.resolve(import.meta.dirname, '..', '..');
const read = (...p: string[]) => readFileSync(path.join(repo, ...p), 'utf8');
const rulesText = read('deploy', 'prometheus', 'idleprobe-rules.yml');
const DEFAULT_PORT = parseListenAddress(DEFAULT_LISTEN_ADDRESS).port;
const available = (cmd: string, args: string[]) => spawnSync(cmd, args, { encoding: 'utf8' }).status === 0;

/**
 * A `passive:` config names tcpdump (found on PATH or given): on a machine without it, --config.check
 * would fail on that alone. The shipped files are checked for their flags and fields, so a dummy
 * executable stands in (the lab tests run the real one).
 */
function withDummyTcpdump(config: { passive?: { tcpdump?: string } }, dir: string): void {
  if (!config.passive) return;
  const dummy = path.join(dir, 'tcpdump');
  writeFileSync(dummy, '#!/bin/sh\nexit 1\n', { mode: 0o755 });
  config.passive.tcpdump = dummy;
}

/** Runs `idleprobe serve --config.check` on an example config whose secret files are replaced by dummies. */
function configCheck(configText: string): { status: number | null; output: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'idleprobe-deploy-config-'));
  try {
    const config = parse(configText) as { targets: Record<string, unknown>[]; passive?: { tcpdump?: string } };
    for (const t of config.targets) {
      for (const key of ['private_key_file', 'known_hosts_file', 'password_file', 'passphrase_file']) {
        if (typeof t[key] !== 'string') continue;
        const dummy = path.join(dir, `${String(t.name)}-${key}`);
        writeFileSync(dummy, key === 'known_hosts_file' ? `${String(t.host)} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n` : 'dummy\n', { mode: 0o600 });
        t[key] = dummy;
      }
    }
    withDummyTcpdump(config, dir);
    const file = path.join(dir, 'idleprobe.yml');
    writeFileSync(file, stringify(config));
    const run = spawnSync(process.execPath, [path.join(repo, 'bin', 'idleprobe.mjs'), 'serve', '--config.check', '--config', file], { encoding: 'utf8', timeout: 60_000 });
    return { status: run.status, output: `${run.stdout}${run.stderr}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Runs a shipped `serve` command line (compose command, Dockerfile CMD, StatefulSet args, systemd
 * ExecStart) through the real CLI with `--config.check`: --config points at `configText` (secret files
 * replaced by dummies) and --history at a temp file. Catches misspelt or unknown flags.
 */
function checkServeArgs(args: string[], configText: string): { status: number | null; stderr: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'idleprobe-serve-args-'));
  try {
    const config = parse(configText) as { targets: Record<string, unknown>[]; passive?: { tcpdump?: string } };
    for (const t of config.targets) {
      for (const key of ['private_key_file', 'known_hosts_file']) {
        if (typeof t[key] !== 'string') continue;
        const dummy = path.join(dir, `${String(t.name)}-${key}`);
        writeFileSync(dummy, 'dummy\n', { mode: 0o600 });
        t[key] = dummy;
      }
    }
    withDummyTcpdump(config, dir);
    const file = path.join(dir, 'idleprobe.yml');
    writeFileSync(file, stringify(config));
    const cliArgs = args.map((a) => (a.startsWith('--config=') ? `--config=${file}` : a.startsWith('--history=') ? `--history=${path.join(dir, 'h.sqlite')}` : a));
    expect(cliArgs[0]).toBe('serve');
    const run = spawnSync(process.execPath, [path.join(repo, 'bin', 'idleprobe.mjs'), ...cliArgs, '--config.check'], { encoding: 'utf8', timeout: 60_000 });
    return { status: run.status, stderr: run.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('Kubernetes PrometheusRule = deploy/prometheus/idleprobe-rules.yml (one source of truth)', () => {
  it('embeds exactly the rule groups of the rules file', () => {
    const resource = parse(read('deploy', 'kubernetes', 'prometheusrule.yaml'));
    expect(resource.kind).toBe('PrometheusRule');
    expect(resource.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(resource.spec.groups).toEqual(parse(rulesText).groups);
  });

  it('is what the generator writes today (node deploy/kubernetes/generate-prometheusrule.mjs --check)', () => {
    const run = spawnSync(process.execPath, [path.join(repo, 'deploy', 'kubernetes', 'generate-prometheusrule.mjs'), '--check'], { encoding: 'utf8', cwd: repo });
    expect(run.status, run.stderr).toBe(0);
  });
});

describe('compose stack', () => {
  const compose = parse(read('deploy', 'compose', 'compose.yaml'));
  const composeDir = path.join(repo, 'deploy', 'compose');
  const bindSources = (service: string) =>
    ((compose.services[service].volumes ?? []) as string[]).map((v) => v.split(':')[0]).filter((s) => s.startsWith('.'));

  it('runs idleprobe, Prometheus and Grafana', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['grafana', 'idleprobe', 'prometheus']);
    expect(existsSync(path.join(composeDir, compose.services.idleprobe.build.context, compose.services.idleprobe.build.dockerfile))).toBe(true);
  });

  it('every bind-mounted file or folder exists in the repository', () => {
    for (const service of Object.keys(compose.services)) {
      for (const src of bindSources(service)) expect(existsSync(path.join(composeDir, src)), `${service}: ${src}`).toBe(true);
    }
  });

  it('Prometheus loads the shipped rules and scrapes idleprobe on its default port with a site label', () => {
    const mounts = compose.services.prometheus.volumes as string[];
    const rulesMount = mounts.find((m) => m.startsWith('../prometheus/idleprobe-rules.yml:'));
    expect(rulesMount).toBeDefined();
    const prom = parse(read('deploy', 'compose', 'prometheus.yml'));
    const ruleGlob: string = prom.rule_files[0];
    const mountedAt = rulesMount!.split(':')[1];
    expect(path.dirname(mountedAt)).toBe(path.dirname(ruleGlob));
    const job = prom.scrape_configs.find((j: { job_name: string }) => j.job_name === 'idleprobe');
    expect(job.static_configs[0].targets).toEqual([`idleprobe:${DEFAULT_PORT}`]);
    expect(job.static_configs[0].labels.site).toBeTruthy();
  });

  it('idleprobe runs without capabilities, read-only, with history on a volume', () => {
    const svc = compose.services.idleprobe;
    expect(svc.cap_drop).toEqual(['ALL']);
    expect(svc.read_only).toBe(true);
    expect(svc.security_opt).toContain('no-new-privileges:true');
    expect((svc.volumes as string[]).some((v) => v.startsWith('idleprobe-history:/var/lib/idleprobe'))).toBe(true);
    expect((svc.command as string[]).join(' ')).toContain('--history=/var/lib/idleprobe/');
  });

  it('Grafana gets the provisioning folder and the dashboards', () => {
    const mounts = compose.services.grafana.volumes as string[];
    expect(mounts).toContain('../../grafana/provisioning:/etc/grafana/provisioning:ro');
    expect(mounts.some((m) => m.startsWith('../../grafana/dashboards:'))).toBe(true);
  });

  it.skipIf(!available('promtool', ['--version']))('promtool check config accepts prometheus.yml with the real rules file', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'idleprobe-compose-prom-'));
    try {
      const prom = parse(read('deploy', 'compose', 'prometheus.yml'));
      prom.rule_files = [path.join(repo, 'deploy', 'prometheus', 'idleprobe-rules.yml')];
      writeFileSync(path.join(dir, 'prometheus.yml'), stringify(prom));
      const run = spawnSync('promtool', ['check', 'config', path.join(dir, 'prometheus.yml')], { encoding: 'utf8' });
      expect(run.status, run.stdout + run.stderr).toBe(0);
      expect(run.stdout).toMatch(/SUCCESS: \d+ rules found/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the idleprobe command line is accepted by the real CLI', () => {
    const run = checkServeArgs(compose.services.idleprobe.command as string[], read('deploy', 'compose', 'idleprobe.yml'));
    expect(run.status, run.stderr).toBe(0);
  }, 60_000);

  it('the example idleprobe.yml passes idleprobe serve --config.check', () => {
    const { status, output } = configCheck(read('deploy', 'compose', 'idleprobe.yml'));
    expect(status, output).toBe(0);
    expect(output).toContain('OK, 1 target(s)');
  }, 60_000);
});

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile');
  const instructions = dockerfile
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const of = (kw: string) => instructions.filter((l) => l.toUpperCase().startsWith(`${kw} `));

  it('passes the dockerfile-utils linter (the one VS Code uses; hadolint is not packaged in Debian)', () => {
    const problems = lintDockerfile(dockerfile).map((d) => `line ${d.range.start.line + 1}: ${typeof d.message === 'string' ? d.message : d.message.value}`);
    expect(problems).toEqual([]);
    // The linter is live: it flags a misspelt HEALTHCHECK flag.
    expect(lintDockerfile('FROM node:20-slim\nHEALTHCHECK --intervl=3s CMD true\n').length).toBeGreaterThan(0);
  });

  it('is multi-stage on node:20-slim and installs production dependencies only', () => {
    const froms = of('FROM');
    expect(froms.length).toBeGreaterThanOrEqual(2);
    for (const f of froms) expect(f).toMatch(/^FROM node:20-slim AS \w+$/);
    // Dev dependencies (typescript, tsx) build dist/ in the build stage and are pruned before the copy.
    expect(dockerfile).toMatch(/npm prune --omit=dev/);
    // The runtime stage copies node_modules from the build stage instead of installing compilers.
    expect(of('COPY').some((c) => c.startsWith('COPY --from='))).toBe(true);
    const runtime = dockerfile.slice(dockerfile.lastIndexOf('FROM '));
    expect(runtime).not.toMatch(/g\+\+|build-essential/);
  });

  it('the runtime image runs compiled JavaScript: dist/ is copied, src/ and tsx are not', () => {
    const pkg = JSON.parse(read('package.json')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
    expect(pkg.dependencies.tsx).toBeUndefined();
    expect(pkg.devDependencies.tsx).toBeDefined();
    const runtime = dockerfile.slice(dockerfile.lastIndexOf('FROM '));
    expect(runtime).toMatch(/COPY --from=build \/app\/dist \.\/dist/);
    expect(runtime).not.toMatch(/COPY src/);
  });

  it('runs as a non-root numeric user, exposes the default port, health-checks /-/healthy, declares volumes', () => {
    const user = of('USER').at(-1)!;
    expect(user).toMatch(/^USER [1-9]\d{3,}(:\d+)?$/);
    expect(of('EXPOSE')).toEqual([`EXPOSE ${DEFAULT_PORT}`]);
    const health = of('HEALTHCHECK')[0];
    expect(health).toContain(`127.0.0.1:${DEFAULT_PORT}/-/healthy`);
    const volume = of('VOLUME')[0];
    expect(volume).toContain('/etc/idleprobe');
    expect(volume).toContain('/var/lib/idleprobe');
    expect(of('ENTRYPOINT')[0]).toContain('bin/idleprobe.mjs');
  });

  it('the default CMD is accepted by the real CLI', () => {
    const cmd = JSON.parse(of('CMD')[0].slice('CMD '.length)) as string[];
    const run = checkServeArgs(cmd, read('deploy', 'compose', 'idleprobe.yml'));
    expect(run.status, run.stderr).toBe(0);
  }, 60_000);

  it('copies only files that exist, and .dockerignore keeps node_modules, .git and secrets out', () => {
    for (const c of of('COPY').filter((c) => !c.includes('--from='))) {
      const sources = c.split(/\s+/).slice(1, -1);
      for (const s of sources) expect(existsSync(path.join(repo, s)), s).toBe(true);
    }
    const ignore = read('.dockerignore').split('\n').map((l) => l.trim());
    for (const must of ['node_modules', '.git', '**/secrets', '*.sqlite']) expect(ignore).toContain(must);
  });
});

describe('Kubernetes manifests', () => {
  const kdir = path.join(repo, 'deploy', 'kubernetes');
  const kustomization = parse(read('deploy', 'kubernetes', 'kustomization.yaml'));
  const sts = parse(read('deploy', 'kubernetes', 'statefulset.yaml'));
  const container = sts.spec.template.spec.containers[0];
  const service = parse(read('deploy', 'kubernetes', 'service.yaml'));
  const monitor = parse(read('deploy', 'kubernetes', 'servicemonitor.yaml'));

  it('kustomization lists files that exist, including the generated PrometheusRule', () => {
    for (const r of kustomization.resources as string[]) expect(existsSync(path.join(kdir, r)), r).toBe(true);
    expect(kustomization.resources).toContain('prometheusrule.yaml');
    expect(kustomization.resources).toContain('servicemonitor.yaml');
  });

  it('shards: pod i of N runs --shard i/N with i from the pod ordinal and N = replicas', () => {
    expect(sts.kind).toBe('StatefulSet');
    expect(container.args).toContain('--shard=$(POD_INDEX)/$(SHARD_COUNT)');
    const env = Object.fromEntries((container.env as { name: string; value?: string; valueFrom?: { fieldRef: { fieldPath: string } } }[]).map((e) => [e.name, e]));
    expect(env.POD_INDEX.valueFrom!.fieldRef.fieldPath).toBe("metadata.labels['apps.kubernetes.io/pod-index']");
    expect(Number(env.SHARD_COUNT.value)).toBe(sts.spec.replicas);
  });

  it('the container args are accepted by the real CLI (`serve --config.check` with pod 0 of N)', () => {
    const args = (container.args as string[]).map((a) => a.replace('$(POD_INDEX)', '0').replace('$(SHARD_COUNT)', String(sts.spec.replicas)));
    const run = checkServeArgs(args, read('deploy', 'kubernetes', 'idleprobe.yml'));
    expect(run.status, run.stderr).toBe(0);
  }, 60_000);

  it('runs non-root, read-only, without capabilities, with probes on /-/healthy and /-/ready', () => {
    const pod = sts.spec.template.spec;
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(pod.securityContext.seccompProfile.type).toBe('RuntimeDefault');
    expect(container.securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    expect(container.livenessProbe.httpGet.path).toBe('/-/healthy');
    expect(container.readinessProbe.httpGet.path).toBe('/-/ready');
    expect(container.ports[0].containerPort).toBe(DEFAULT_PORT);
    expect(container.args).toContain(`--web.listen-address=:${DEFAULT_PORT}`);
    // History on a per-pod volume claim, config from the generated ConfigMap, secrets from a Secret.
    expect(sts.spec.volumeClaimTemplates[0].metadata.name).toBe('history');
    type Volume = { name: string; configMap?: { name: string }; secret?: { secretName: string } };
    const volumes = Object.fromEntries((pod.volumes as Volume[]).map((v) => [v.name, v]));
    expect(volumes.config?.configMap?.name).toBe(kustomization.configMapGenerator[0].name);
    expect(volumes.ssh?.secret?.secretName).toBe(parse(read('deploy', 'kubernetes', 'secret.example.yaml')).metadata.name);
  });

  it('the example config reads its secrets from where the Secret is mounted, and passes --config.check', () => {
    const sshMount = (container.volumeMounts as { name: string; mountPath: string }[]).find((m) => m.name === 'ssh')!.mountPath;
    const text = read('deploy', 'kubernetes', kustomization.configMapGenerator[0].files[0]);
    const config = parse(text) as { targets: { private_key_file: string; known_hosts_file: string }[] };
    for (const t of config.targets) {
      expect(path.dirname(t.private_key_file)).toBe(sshMount);
      expect(path.dirname(t.known_hosts_file)).toBe(sshMount);
    }
    const { status, output } = configCheck(text);
    expect(status, output).toBe(0);
  }, 60_000);

  it('the ServiceMonitor scrapes the Service port and sets the site label', () => {
    expect(monitor.kind).toBe('ServiceMonitor');
    expect(monitor.spec.endpoints[0].port).toBe(service.spec.ports[0].name);
    expect(service.spec.ports[0].port).toBe(DEFAULT_PORT);
    expect(monitor.spec.selector.matchLabels).toEqual(service.spec.selector);
    expect(sts.spec.template.metadata.labels).toMatchObject(service.spec.selector);
    const site = (monitor.spec.endpoints[0].relabelings as { targetLabel: string; replacement?: string }[]).find((r) => r.targetLabel === 'site');
    expect(site?.replacement).toBeTruthy();
  });

  it.skipIf(!available('kubectl', ['version', '--client']))('kubectl kustomize renders every resource (skipped without kubectl)', () => {
    const run = spawnSync('kubectl', ['kustomize', kdir], { encoding: 'utf8', timeout: 60_000 });
    expect(run.status, run.stderr).toBe(0);
    const kinds = parseAllDocuments(run.stdout).map((d) => (d.toJS() as { kind: string }).kind).sort();
    expect(kinds).toEqual(['ConfigMap', 'Namespace', 'PrometheusRule', 'Service', 'ServiceMonitor', 'StatefulSet']);
  });
});

describe('systemd unit', () => {
  const unitPath = path.join(repo, 'deploy', 'systemd', 'idleprobe.service');
  const unit = read('deploy', 'systemd', 'idleprobe.service');
  const directives = new Map<string, string[]>();
  for (const line of unit.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (m) directives.set(m[1], [...(directives.get(m[1]) ?? []), m[2]]);
  }
  const one = (k: string) => directives.get(k)?.at(-1);

  it('has the hardening options', () => {
    expect(one('DynamicUser')).toBe('yes');
    expect(one('ProtectSystem')).toBe('strict');
    expect(one('StateDirectory')).toBe('idleprobe');
    expect(one('NoNewPrivileges')).toBe('yes');
    expect(directives.get('CapabilityBoundingSet')).toEqual(['']); // empty: no capabilities at all
    expect(one('ProtectHome')).toBe('yes');
    expect(one('PrivateTmp')).toBe('yes');
    expect(one('RestrictAddressFamilies')).toBe('AF_INET AF_INET6 AF_UNIX');
    // V8's JIT needs W+X pages: MemoryDenyWriteExecute=yes would crash node.
    expect(one('MemoryDenyWriteExecute')).toBeUndefined();
  });

  it('ExecStart is accepted by the real CLI', () => {
    const argv = one('ExecStart')!.split(/\s+/);
    expect(argv.slice(0, 2)).toEqual(['/usr/bin/node', '/opt/idleprobe/bin/idleprobe.mjs']);
    const run = checkServeArgs(argv.slice(2), read('deploy', 'compose', 'idleprobe.yml'));
    expect(run.status, run.stderr).toBe(0);
  }, 60_000);

  it('keeps history in the state directory and reloads with SIGHUP', () => {
    const exec = one('ExecStart')!;
    expect(exec).toContain('--history=%S/idleprobe/');
    expect(exec).toContain(`--web.listen-address=:${DEFAULT_PORT}`);
    // Waits for the SIGHUP handler (SigCgt bit 0), then signals: see serve-history.test.ts for it at work.
    expect(one('ExecReload')).toMatch(/SigCgt.*\/proc\/\$MAINPID\/status.*kill -HUP \$MAINPID'$/);
  });

  it.skipIf(!available('systemd-analyze', ['--version']))('systemd-analyze verify reports nothing and the offline security exposure is low (skipped without systemd)', () => {
    // verify warns about unknown keys and bad values on stderr but still exits 0: any output is a failure.
    const verify = spawnSync('systemd-analyze', ['verify', unitPath], { encoding: 'utf8', timeout: 60_000 });
    expect(verify.status, verify.stderr).toBe(0);
    expect(`${verify.stdout}${verify.stderr}`.trim()).toBe('');
    const security = spawnSync('systemd-analyze', ['security', '--offline=true', unitPath], { encoding: 'utf8', timeout: 60_000 });
    const score = /Overall exposure level for idleprobe\.service: ([\d.]+)/.exec(security.stdout);
    expect(score, security.stdout + security.stderr).not.toBeNull();
    expect(Number(score![1])).toBeLessThanOrEqual(2.0);
  });
});

/** `Key=value` directives of a unit file, every value of each key in order. */
function unitDirectives(text: string): Map<string, string[]> {
  const directives = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (m) directives.set(m[1], [...(directives.get(m[1]) ?? []), m[2]]);
  }
  return directives;
}

describe('bastion variants (passive:, issue 15)', () => {
  const bastionConfig = read('deploy', 'kubernetes', 'bastion', 'idleprobe.yml');

  describe('systemd unit idleprobe-bastion.service', () => {
    const unitPath = path.join(repo, 'deploy', 'systemd', 'idleprobe-bastion.service');
    const unit = unitDirectives(read('deploy', 'systemd', 'idleprobe-bastion.service'));
    const plain = unitDirectives(read('deploy', 'systemd', 'idleprobe.service'));
    const one = (k: string) => unit.get(k)?.at(-1);

    it('gets CAP_NET_RAW and nothing else, as an ambient capability (no setcap, no root)', () => {
      expect(unit.get('CapabilityBoundingSet')).toEqual(['CAP_NET_RAW']);
      expect(unit.get('AmbientCapabilities')).toEqual(['CAP_NET_RAW']);
      expect(one('DynamicUser')).toBe('yes');
      expect(one('NoNewPrivileges')).toBe('yes');
      expect(one('User')).toBeUndefined();
      // A capability inside a private user namespace would not reach the host's network.
      expect(one('PrivateUsers')).toBeUndefined();
      expect(one('RestrictAddressFamilies')!.split(' ')).toEqual(expect.arrayContaining(['AF_PACKET', 'AF_NETLINK', 'AF_INET', 'AF_INET6', 'AF_UNIX']));
      // A capture that cannot start (exit 3) is not restarted in a loop.
      expect(one('RestartPreventExitStatus')!.split(' ')).toEqual(['2', '3']);
    });

    it('differs from idleprobe.service only in what capturing needs', () => {
      const allowed = new Set(['Description', 'CapabilityBoundingSet', 'AmbientCapabilities', 'PrivateUsers', 'RestrictAddressFamilies', 'RestartPreventExitStatus']);
      for (const key of new Set([...unit.keys(), ...plain.keys()])) {
        if (!allowed.has(key)) expect(unit.get(key), key).toEqual(plain.get(key));
      }
    });

    it('ExecStart with the bastion config (passive:) is accepted by the real CLI', () => {
      const argv = one('ExecStart')!.split(/\s+/);
      expect(argv.slice(0, 2)).toEqual(['/usr/bin/node', '/opt/idleprobe/bin/idleprobe.mjs']);
      const run = checkServeArgs(argv.slice(2), bastionConfig);
      expect(run.status, run.stderr).toBe(0);
    }, 60_000);

    it.skipIf(!available('systemd-analyze', ['--version']))('systemd-analyze verify reports nothing and the offline security exposure stays low (skipped without systemd)', () => {
      const verify = spawnSync('systemd-analyze', ['verify', unitPath], { encoding: 'utf8', timeout: 60_000 });
      expect(verify.status, verify.stderr).toBe(0);
      expect(`${verify.stdout}${verify.stderr}`.trim()).toBe('');
      const security = spawnSync('systemd-analyze', ['security', '--offline=true', unitPath], { encoding: 'utf8', timeout: 60_000 });
      const score = /Overall exposure level for idleprobe-bastion\.service: ([\d.]+)/.exec(security.stdout);
      expect(score, security.stdout + security.stderr).not.toBeNull();
      // 1.9 measured (idleprobe.service: 1.4); the capability and the host's user namespace cost 0.5.
      expect(Number(score![1])).toBeLessThanOrEqual(2.0);
    });
  });

  describe('Kubernetes DaemonSet (deploy/kubernetes/bastion)', () => {
    const kdir = path.join(repo, 'deploy', 'kubernetes', 'bastion');
    const kustomization = parse(read('deploy', 'kubernetes', 'bastion', 'kustomization.yaml'));
    const ds = parse(read('deploy', 'kubernetes', 'bastion', 'daemonset.yaml'));
    const monitor = parse(read('deploy', 'kubernetes', 'bastion', 'podmonitor.yaml'));
    const pod = ds.spec.template.spec;
    const container = pod.containers[0];

    it('runs in the node network namespace with NET_RAW as the only capability, non-root, read-only', () => {
      expect(ds.kind).toBe('DaemonSet');
      expect(pod.hostNetwork).toBe(true);
      expect(pod.dnsPolicy).toBe('ClusterFirstWithHostNet');
      expect(pod.nodeSelector).toBeDefined();
      expect(pod.securityContext.runAsNonRoot).toBe(true);
      expect(pod.securityContext.seccompProfile.type).toBe('RuntimeDefault');
      expect(container.securityContext.capabilities).toEqual({ drop: ['ALL'], add: ['NET_RAW'] });
      expect(container.securityContext.readOnlyRootFilesystem).toBe(true);
      expect(container.securityContext.privileged).toBeUndefined();
      // The image's tcpdump gets NET_RAW as a file capability, which no_new_privs would disable.
      expect(container.securityContext.allowPrivilegeEscalation).toBe(true);
      expect(container.image).toMatch(/-tcpdump$/);
      expect(read('Dockerfile')).toMatch(/setcap cap_net_raw\+ep \/usr\/bin\/tcpdump/);
    });

    it('the container args with its config (passive:) are accepted by the real CLI', () => {
      expect(container.args).toContain(`--web.listen-address=$(HOST_IP):${DEFAULT_PORT}`);
      const env = Object.fromEntries((container.env as { name: string; valueFrom?: { fieldRef: { fieldPath: string } } }[]).map((e) => [e.name, e]));
      expect(env.HOST_IP.valueFrom!.fieldRef.fieldPath).toBe('status.hostIP');
      const args = (container.args as string[]).map((a) => a.replace('$(HOST_IP)', '127.0.0.1'));
      const run = checkServeArgs(args, read('deploy', 'kubernetes', 'bastion', kustomization.configMapGenerator[0].files[0]));
      expect(run.status, run.stderr).toBe(0);
      const config = parse(bastionConfig) as { passive?: { servers?: string[] } };
      expect(config.passive?.servers?.length).toBeGreaterThan(0);
      type Volume = { name: string; configMap?: { name: string } };
      expect((pod.volumes as Volume[]).find((v) => v.name === 'config')?.configMap?.name).toBe(kustomization.configMapGenerator[0].name);
    }, 60_000);

    it('the PodMonitor scrapes the DaemonSet pods and sets the site label; the kustomization lists files that exist', () => {
      expect(monitor.kind).toBe('PodMonitor');
      expect(monitor.spec.podMetricsEndpoints[0].port).toBe(container.ports[0].name);
      expect(monitor.spec.selector.matchLabels).toEqual(ds.spec.selector.matchLabels);
      expect(ds.spec.template.metadata.labels).toMatchObject(ds.spec.selector.matchLabels);
      const site = (monitor.spec.podMetricsEndpoints[0].relabelings as { targetLabel: string; replacement?: string }[]).find((r) => r.targetLabel === 'site');
      expect(site?.replacement).toBeTruthy();
      for (const r of kustomization.resources as string[]) expect(existsSync(path.join(kdir, r)), r).toBe(true);
    });

    it.skipIf(!available('kubectl', ['version', '--client']))('kubectl kustomize renders every resource (skipped without kubectl)', () => {
      const run = spawnSync('kubectl', ['kustomize', kdir], { encoding: 'utf8', timeout: 60_000 });
      expect(run.status, run.stderr).toBe(0);
      const kinds = parseAllDocuments(run.stdout).map((d) => (d.toJS() as { kind: string }).kind).sort();
      expect(kinds).toEqual(['ConfigMap', 'DaemonSet', 'Namespace', 'PodMonitor']);
    });
  });
});
