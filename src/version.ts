// The version idleprobe reports (`--version`, the build_info metric, the landing page): package.json's, read once.
import { readFileSync } from 'node:fs';

export const VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
