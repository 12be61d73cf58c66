// Each built-in's `entry` is the module that defines it: the module its cache key is computed from.
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { BUILTIN_PLUGINS } from './builtin-plugins.ts';

describe('built-in plugin entries', () => {
  it.each(BUILTIN_PLUGINS.map((p) => [p.name, p] as const))('%s is the default export of its entry module', async (_name, plugin) => {
    const mod = (await import(pathToFileURL(plugin.entry!).href)) as { default: { name: string; run: unknown } };
    expect(mod.default.name).toBe(plugin.name);
    expect(mod.default.run).toBe(plugin.run);
  });
});
