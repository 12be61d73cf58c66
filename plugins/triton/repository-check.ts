// The whole repository, checked before a byte of it is written: each config.pbtxt parsed back from
// its text through the ModelConfig schema (so what is checked is what Triton will read), then the
// settings that only fail at server start, or at the first request, checked against each other:
//   - the config's name is its folder's (Triton finds a model by folder);
//   - an ensemble's steps name models of the repository, map every input of each, read only
//     tensors that exist, with the same data type and shape, and produce every ensemble output;
//     no composing model allows a smaller batch than the ensemble;
//   - a TensorRT engine's optimisation profile covers max_batch_size and the config's inputs.
// Rules from Triton's model configuration and ensemble documentation (user_guide/
// model_configuration.md, architecture.md "Ensemble Models").
import { QrunError, type Diagnostic } from '../../src/errors.ts';
import type { EngineInfo } from '../trtexec/engine-info.ts';
import { parseModelConfigText } from './model-config-schema.ts';

export interface PlannedModel {
  /** The model's folder in the repository. */
  folder: string;
  /** Its config.pbtxt. */
  text: string;
  /** For a tensorrt_plan model: what trtexec recorded about the engine (engine.json), if known. */
  engine?: EngineInfo;
}

interface ParsedTensor {
  name: string;
  data_type?: string;
  dims?: number[];
}

interface ParsedStep {
  model_name?: string;
  input_map?: Record<string, string>;
  output_map?: Record<string, string>;
}

interface ParsedConfig {
  name?: string;
  platform?: string;
  max_batch_size?: number;
  input?: ParsedTensor[];
  output?: ParsedTensor[];
  ensemble_scheduling?: { step?: ParsedStep[] };
}

const diag = (code: string, message: string, hint: string): Diagnostic => ({ code, message, hint });

/** Shapes agree where both give a size: -1 is any size. */
function dimsAgree(a: number[] = [], b: number[] = []): boolean {
  return a.length === b.length && a.every((d, i) => d === -1 || b[i] === -1 || d === b[i]);
}

const shape = (dims: number[] = []) => `[ ${dims.join(', ')} ]`;

/** Every problem found, as diagnostics; empty when the repository is consistent. */
export function checkRepository(models: PlannedModel[]): Diagnostic[] {
  const out: Diagnostic[] = [];
  const parsed = new Map<string, ParsedConfig>();
  for (const m of models) {
    let config: ParsedConfig;
    try {
      config = parseModelConfigText(m.text) as ParsedConfig;
    } catch (e) {
      out.push(diag('TRITON_CONFIG_TEXT', `${m.folder}/config.pbtxt does not parse as Triton's ModelConfig: ${(e as Error).message}`, 'this is a bug in qrun: please report it with the options of the triton step'));
      continue;
    }
    if (parsed.has(m.folder)) out.push(diag('TRITON_NAME', `two models would share the folder "${m.folder}"`, 'give the triton step another `name`'));
    if (config.name !== m.folder) {
      out.push(diag('TRITON_NAME', `${m.folder}/config.pbtxt names the model "${config.name ?? ''}", but its folder is "${m.folder}"`, 'Triton finds a model by its folder: the two must be equal'));
    }
    parsed.set(m.folder, config);
  }

  for (const m of models) {
    const config = parsed.get(m.folder);
    if (!config) continue;
    if (config.ensemble_scheduling) out.push(...checkEnsemble(m.folder, config, parsed));
    if (m.engine) out.push(...checkEngineProfile(m.folder, config, m.engine));
  }
  return out;
}

function checkEnsemble(folder: string, ensemble: ParsedConfig, repository: Map<string, ParsedConfig>): Diagnostic[] {
  const out: Diagnostic[] = [];
  const bad = (message: string, hint = 'the ensemble is written by qrun from the other configs: please report this as a bug') => out.push(diag('TRITON_ENSEMBLE', `ensemble "${folder}": ${message}`, hint));
  const steps = ensemble.ensemble_scheduling?.step ?? [];
  const batch = ensemble.max_batch_size ?? 0;
  // Ensemble tensors: its inputs, then what each step's output_map produces (Triton orders the
  // steps by their data dependencies, so a step may read what any other step writes).
  const tensors = new Map<string, ParsedTensor>((ensemble.input ?? []).map((t) => [t.name, t]));
  const consumed = new Set<string>();
  for (const step of steps) {
    const model = repository.get(step.model_name ?? '');
    if (!model) {
      bad(`step model "${step.model_name ?? ''}" is not in the repository`);
      continue;
    }
    for (const [output, tensor] of Object.entries(step.output_map ?? {})) {
      const produced = model.output?.find((o) => o.name === output);
      if (!produced) bad(`step "${step.model_name}" has no output "${output}"`);
      else if (tensors.has(tensor)) bad(`tensor "${tensor}" is written twice`);
      else tensors.set(tensor, produced);
    }
  }
  for (const step of steps) {
    const model = repository.get(step.model_name ?? '');
    if (!model) continue;
    const modelBatch = model.max_batch_size ?? 0;
    if (modelBatch < batch || (batch > 0 && modelBatch === 0)) {
      out.push(diag('TRITON_ENSEMBLE', `ensemble "${folder}" allows batches of ${batch}, but its step "${step.model_name}" has max_batch_size ${modelBatch}`, 'give every model of the ensemble the same maxBatchSize'));
    }
    const map = step.input_map ?? {};
    for (const input of model.input ?? []) {
      const tensor = map[input.name];
      if (tensor === undefined) {
        bad(`step "${step.model_name}" input "${input.name}" is not mapped to any ensemble tensor`);
        continue;
      }
      consumed.add(tensor);
      const source = tensors.get(tensor);
      if (!source) bad(`step "${step.model_name}" reads "${tensor}", which no step produces and the ensemble does not take`);
      else if (source.data_type !== input.data_type || !dimsAgree(source.dims, input.dims)) {
        bad(`"${tensor}" is ${source.data_type} ${shape(source.dims)} where step "${step.model_name}" input "${input.name}" wants ${input.data_type} ${shape(input.dims)}`);
      }
    }
    for (const key of Object.keys(map)) if (!model.input?.some((i) => i.name === key)) bad(`step "${step.model_name}" has no input "${key}"`);
  }
  for (const input of ensemble.input ?? []) if (!consumed.has(input.name)) bad(`input "${input.name}" is not used by any step`);
  for (const output of ensemble.output ?? []) {
    const source = tensors.get(output.name);
    if (!source || (ensemble.input ?? []).some((i) => i.name === output.name)) bad(`output "${output.name}" is not produced by any step`);
    else if (source.data_type !== output.data_type || !dimsAgree(source.dims, output.dims)) {
      bad(`output "${output.name}" is declared ${output.data_type} ${shape(output.dims)} but its step produces ${source.data_type} ${shape(source.dims)}`);
    }
  }
  return out;
}

/**
 * A TensorRT engine only accepts shapes inside its optimisation profile: with max_batch_size M,
 * Triton sends batches of 1…M, so the profile's batch axis must span them; every input the config
 * declares must be one the engine was built with (the same names), and its fixed sizes must lie
 * within the profile.
 */
function checkEngineProfile(folder: string, config: ParsedConfig, engine: EngineInfo): Diagnostic[] {
  const out: Diagnostic[] = [];
  const batch = config.max_batch_size ?? 0;
  for (const input of config.input ?? []) {
    const profile = engine.profiles[input.name];
    if (!profile) {
      // A static input needs no profile; any dynamic axis (or the batch axis) does.
      if (batch > 0 || (input.dims ?? []).includes(-1)) {
        out.push(diag('TRITON_ENGINE_PROFILE', `"${folder}": the engine has no optimisation profile for input "${input.name}" (it has: ${Object.keys(engine.profiles).join(', ') || 'none'})`, 'the engine must be built from the same ONNX model as the config: check the trtexec step\'s input'));
      }
      continue;
    }
    if (batch > 0) {
      const [minBatch, maxBatch] = [profile.min[0]!, profile.max[0]!];
      if (maxBatch < batch || minBatch > 1) {
        out.push(
          diag(
            'TRITON_ENGINE_PROFILE',
            `"${folder}": max_batch_size is ${batch}, but the engine's profile for "${input.name}" takes batches ${minBatch}…${maxBatch}`,
            `set the trtexec step's shapes.min.batch to 1 and shapes.max.batch (or maxBatchSize) to at least ${batch}, or lower the triton step's maxBatchSize to ${maxBatch}`,
          ),
        );
      }
    }
    const dims = input.dims ?? [];
    const offset = batch > 0 ? 1 : 0;
    if (profile.max.length !== dims.length + offset) {
      out.push(diag('TRITON_ENGINE_PROFILE', `"${folder}": input "${input.name}" has ${dims.length + offset} axes in the config but ${profile.max.length} in the engine's profile`, 'the engine must be built from the same ONNX model as the config'));
      continue;
    }
    dims.forEach((d, i) => {
      const [lo, hi] = [profile.min[i + offset]!, profile.max[i + offset]!];
      if (d !== -1 && (d < lo || d > hi)) {
        out.push(diag('TRITON_ENGINE_PROFILE', `"${folder}": input "${input.name}" axis ${i + offset} is ${d} in the config, outside the engine's profile ${lo}…${hi}`, 'rebuild the engine with a profile that covers it'));
      }
    });
  }
  for (const name of Object.keys(engine.profiles)) {
    if (!(config.input ?? []).some((i) => i.name === name)) {
      out.push(diag('TRITON_ENGINE_PROFILE', `"${folder}": the engine has an input "${name}" that the config does not declare`, 'the engine must be built from the same ONNX model as the config: check the trtexec step\'s input'));
    }
  }
  return out;
}

/** Throws every problem at once, so a user fixes them in one go. */
export function assertRepository(models: PlannedModel[]): void {
  const problems = checkRepository(models);
  if (problems.length) throw new QrunError(problems);
}
