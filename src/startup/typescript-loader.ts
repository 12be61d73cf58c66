// Under the bundle bin/build-ahead.js makes, qrun's own code is plain JavaScript and no TypeScript
// loader is registered (registering tsx costs ~0.3 s at every start). An external plugin may be a
// .ts file: the engine imports it through importPluginModule, which has bin/qrun.js register tsx
// first, once. Running from the sources (tsx, vitest) a plain import() is all it does.
const TYPESCRIPT_LOADER = Symbol.for('qrun.typescript-loader');

/** Imports an external plugin's module (a file URL), TypeScript included. */
export async function importPluginModule(url: string): Promise<{ default?: unknown }> {
  const register = (globalThis as Record<symbol, (() => Promise<void>) | undefined>)[TYPESCRIPT_LOADER];
  if (!register) return (await import(url)) as { default?: unknown };
  await register();
  const mod = (await import(url)) as { default?: unknown };
  // tsx runs a .ts file outside a "type": "module" package as CommonJS, so a native import() gets
  // its exports object as `default` (flagged __esModule). Code tsx compiled got that unwrapped by
  // tsx's rewrite of import(); the bundle's import() is Node's own, so unwrap here as tsx did.
  const inner = mod.default as { __esModule?: boolean } | undefined;
  return inner && typeof inner === 'object' && inner.__esModule ? (inner as { default?: unknown }) : mod;
}
