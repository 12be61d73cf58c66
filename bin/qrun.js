#!/usr/bin/env node
// qrun ships its TypeScript sources and runs them through tsx's loader, so `npm ci` needs no
// build step and stack traces point at the files a user can read.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli.ts');
