// Built-in plugins by name. External plugins (a path or an npm package) register here as well.
import type { Plugin } from './plugin.ts';

export class PluginRegistry {
  private readonly plugins = new Map<string, Plugin>();

  register(plugin: Plugin): this {
    if (this.plugins.has(plugin.name)) throw new Error(`plugin "${plugin.name}" is registered twice; this is a bug in qrun`);
    this.plugins.set(plugin.name, plugin);
    return this;
  }

  get(name: string): Plugin | undefined {
    return this.plugins.get(name);
  }

  names(): string[] {
    return [...this.plugins.keys()];
  }
}
