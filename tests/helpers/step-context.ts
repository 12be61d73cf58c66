// Running a plugin's run() directly in a unit test: a StepContext over temp folders, artifacts from
// files, and the options with the plugin's schema defaults applied (as the planner would).
import { mkdirSync, mkdtempSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import type { Artifact, ArtifactKind, Plugin, StepContext, StepEvent } from '../../src/engine/plugin.ts';

export function stepContext(root: string, stepId = 'step'): StepContext & { events: StepEvent[] } {
  const outDir = mkdtempSync(join(root, `${stepId}-out-`));
  const tmpDir = join(outDir, '..', `${stepId}-tmp-${Date.now()}-${Math.random().toString(36).slice(2)}`);
  mkdirSync(tmpDir, { recursive: true });
  const events: StepEvent[] = [];
  return {
    stepId,
    outDir,
    recipeDir: root,
    tmpDir,
    signal: new AbortController().signal,
    emit: (e) => events.push(e),
    artifactOf: () => undefined,
    events,
  };
}

export function artifact(kind: ArtifactKind, path: string): Artifact {
  return { kind, path, sha256: 'test', size: statSync(path).size };
}

/** The options as the planner passes them: validated, defaults filled in. Throws on invalid ones. */
export function withDefaults<O>(plugin: Plugin<O>, options: Record<string, unknown>): O {
  const ajv = new Ajv({ useDefaults: true, strict: false, allErrors: true });
  const validate = ajv.compile(plugin.optionsSchema);
  const copy = structuredClone(options);
  if (!validate(copy)) throw new Error(`invalid options: ${ajv.errorsText(validate.errors)}`);
  return copy as O;
}
