// Built-in plugins by name. External plugins (a path or an npm package) register here as well.
import type { Plugin } from './plugin.ts';

export class PluginRegistry {
  private readonly plugins = new Map<string, Plugin>();

  register(plugin: Plugin): this {
    if (this.plugins.has(plugin.name)) throw new Error(`plugin "${plugin.name}" is registered twice; this is a bug in qrun`);
    this.plugins.set(plugin.name, plugin);
    return this;
  }

  /** An external plugin, found under the `uses:` string the recipe wrote (a path or package name). */
  registerAs(uses: string, plugin: Plugin): this {
    this.plugins.set(uses, plugin);
    return this;
  }

  has(name: string): boolean {
    return this.plugins.has(name);
  }

  get(name: string): Plugin | undefined {
    return this.plugins.get(name);
  }

  /** Built-in names (what "did you mean" suggests). */
  names(): string[] {
    return [...this.plugins.keys()].filter((n) => !isExternalReference(n));
  }
}

/** `uses:` values that name a file or folder rather than a built-in or a package. */
export function isExternalReference(uses: string): boolean {
  return uses.startsWith('./') || uses.startsWith('../') || uses.startsWith('/');
}
