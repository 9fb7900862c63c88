// The config reference in docs/daemon.md is generated from the JSON Schema: stale docs fail here.
// The defaults the daemon applies are the schema's (checked through the loader, not re-typed).
import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import { DOC_FILE, withReference } from '../../docs/tools/config-reference.ts';
import { DEFAULT_GLOBAL, DEFAULT_MODULE, parseConfigText, resolveConfig } from '../../src/daemon/config.ts';

describe('docs/daemon.md config reference', () => {
  it('is what the schema generates (run `node --import tsx docs/tools/config-reference.ts`)', () => {
    const doc = fs.readFileSync(DOC_FILE, 'utf8');
    expect(withReference(doc)).toBe(doc);
  });

  it('documents the defaults a minimal config really gets', () => {
    const cfg = resolveConfig(
      parseConfigText(`targets:\n  - { name: a, host: h, user: u, use_agent: true, host_key_sha256: "SHA256:${'B'.repeat(43)}" }\n`),
      { env: {} },
    );
    const doc = fs.readFileSync(DOC_FILE, 'utf8');
    expect(cfg.global).toEqual(DEFAULT_GLOBAL);
    expect(cfg.targets[0].settings).toEqual(DEFAULT_MODULE);
    expect(doc).toContain(`| \`global.max_sessions\` | \`${cfg.global.maxSessions}\` |`);
    expect(doc).toContain(`| \`sessions\` | \`${cfg.targets[0].settings.sessions}\` |`);
    expect(doc).toContain(`| \`schedule\` | \`${JSON.stringify(cfg.targets[0].settings.schedule)}\` |`);
    expect(doc).toContain(`| \`port\` | \`${cfg.targets[0].spec.port}\` |`);
  });

  it('documents the passive: defaults an empty section really gets (and ports → filter, IPv6 in the analysis form)', () => {
    // tcpdump named (any executable): the defaults must not depend on this host having it on PATH.
    const empty = resolveConfig(parseConfigText('targets: []\npassive: { tcpdump: /bin/sh }\n'), { env: {}, interfaceExists: () => true });
    const doc = fs.readFileSync(DOC_FILE, 'utf8');
    expect(doc).toContain(`| \`passive.interface\` | \`${JSON.stringify(empty.passive!.interface)}\` |`);
    expect(doc).toContain(`| \`passive.servers\` | \`${JSON.stringify(empty.passive!.servers)}\` |`);
    expect(empty.passive!.filter).toBe('tcp');
    const set = resolveConfig(parseConfigText('targets: []\npassive:\n  ports: [22, 2222]\n  servers: ["[2001:DB8:0:0::1]:22", "198.19.1.2:22"]\n  tcpdump: /bin/sh\n'), { env: {}, interfaceExists: () => true });
    expect(set.passive).toMatchObject({ interface: 'any', filter: 'tcp port 22 or tcp port 2222', servers: ['[2001:db8::1]:22', '198.19.1.2:22'], tcpdumpPath: '/bin/sh' });
  });
});
