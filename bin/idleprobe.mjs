#!/usr/bin/env node
// Runs the TypeScript sources through tsx's loader so a fresh clone works after `npm ci`
// with no separate build step (and no stale build output to go out of sync).
import { register } from 'tsx/esm/api';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

register();
const here = path.dirname(fileURLToPath(import.meta.url));
const { main } = await import(path.join(here, '..', 'src', 'cli', 'main.ts'));
const code = await main(process.argv.slice(2));
if (typeof code === 'number') process.exitCode = code;
