#!/usr/bin/env node
// qrun ships its TypeScript sources and runs them through tsx's loaders, so `npm ci` needs no
// build step and stack traces point at the files a user can read. Both loaders are registered:
// external plugins written in TypeScript may sit in folders without "type": "module".
import { register as registerCjs } from 'tsx/cjs/api';
import { register } from 'tsx/esm/api';

registerCjs();
register();
await import('../src/cli.ts');
