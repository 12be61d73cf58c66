#!/usr/bin/env node
// qrun ships its TypeScript sources: `npm ci` needs no build step. The first run bundles them into
// node_modules/.cache (bin/build-ahead.js) and every later run starts from that bundle, rebuilt
// whenever a source changes; where that cannot work, the sources run through tsx's loaders.
import { compiledCli } from './build-ahead.js';

const TYPESCRIPT_LOADER = Symbol.for('qrun.typescript-loader');
const registerTsx = async () => {
  // Both loaders: external plugins written in TypeScript may sit in folders without "type": "module".
  const [{ register: registerCjs }, { register }] = await Promise.all([import('tsx/cjs/api'), import('tsx/esm/api')]);
  registerCjs();
  register();
};

const bundle = await compiledCli({ log: (line) => process.stderr.write(`${line}\n`) });
if (bundle) {
  // Stack traces name the .ts lines, as they did under tsx.
  process.setSourceMapsEnabled(true);
  // External plugins in TypeScript need tsx: registered the first time one is loaded
  // (src/startup/typescript-loader.ts), so runs of the built-in plugins never pay for it.
  let registered;
  globalThis[TYPESCRIPT_LOADER] = () => (registered ??= registerTsx());
  try {
    await import(bundle);
  } catch (e) {
    // Removed between the check and the import by another qrun's clean-up: run the sources.
    if (e?.code !== 'ERR_MODULE_NOT_FOUND' || !String(e.message).includes(new URL(bundle).pathname)) throw e;
    await registerTsx();
    await import('../src/cli.ts');
  }
} else {
  await registerTsx();
  await import('../src/cli.ts');
}
