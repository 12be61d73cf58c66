import { describe, expect, it } from 'vitest';
import { tinyClassifier } from '../trtexec/testing/tiny-onnx.ts';
import { buildModelConfig, type ModelConfig } from './model-config.ts';
import { withDefaults } from './options.ts';
import { formatModelConfig } from './pbtxt.ts';
import { checkRepository, type PlannedModel } from './repository-check.ts';
import { ensembleConfig, tokenizerConfig } from './text-ensemble.ts';

const model = buildModelConfig(tinyClassifier(), { name: 'clf', runtime: 'onnxruntime' }, withDefaults({}));
const tokenizer = tokenizerConfig('clf_tokenizer', model, { maxLength: 128, padId: 0 }, 1);
const ensemble = ensembleConfig('clf_ensemble', tokenizer, model);
const planned = (...configs: ModelConfig[]): PlannedModel[] => configs.map((c) => ({ folder: c.name, text: formatModelConfig(c) }));
const messages = (models: PlannedModel[]) => checkRepository(models).map((d) => `${d.code}: ${d.message}`);

describe('checkRepository', () => {
  it('passes the repository qrun writes', () => {
    expect(checkRepository(planned(model, tokenizer, ensemble))).toEqual([]);
  });

  it('finds a config whose name is not its folder, and one that is not a ModelConfig', () => {
    const models = planned(model);
    models[0]!.folder = 'classifier';
    expect(messages(models)).toEqual(['TRITON_NAME: classifier/config.pbtxt names the model "clf", but its folder is "classifier"']);
    expect(messages([{ folder: 'x', text: 'name: "x"\nmax_batch: 2\n' }])[0]).toMatch(/^TRITON_CONFIG_TEXT: x\/config.pbtxt does not parse as Triton's ModelConfig: .*unknown field 'max_batch'/);
  });

  it('finds an ensemble step whose model is missing, or whose tensors do not connect', () => {
    expect(messages(planned(model, ensemble))).toEqual([
      'TRITON_ENSEMBLE: ensemble "clf_ensemble": step model "clf_tokenizer" is not in the repository',
      'TRITON_ENSEMBLE: ensemble "clf_ensemble": step "clf" reads "input_ids", which no step produces and the ensemble does not take',
      'TRITON_ENSEMBLE: ensemble "clf_ensemble": step "clf" reads "attention_mask", which no step produces and the ensemble does not take',
      'TRITON_ENSEMBLE: ensemble "clf_ensemble": input "TEXT" is not used by any step',
    ]);
    const int32 = { ...tokenizer, output: tokenizer.output.map((o) => ({ ...o, dataType: 'TYPE_INT32' })) };
    expect(messages(planned(model, int32, ensemble))).toEqual([
      'TRITON_ENSEMBLE: ensemble "clf_ensemble": "input_ids" is TYPE_INT32 [ -1 ] where step "clf" input "input_ids" wants TYPE_INT64 [ -1 ]',
      'TRITON_ENSEMBLE: ensemble "clf_ensemble": "attention_mask" is TYPE_INT32 [ -1 ] where step "clf" input "attention_mask" wants TYPE_INT64 [ -1 ]',
    ]);
    const unmapped = structuredClone(ensemble);
    delete unmapped.ensembleScheduling!.step[1]!.inputMap.attention_mask;
    unmapped.ensembleScheduling!.step[1]!.outputMap = { logits: 'scores' };
    expect(messages(planned(model, tokenizer, unmapped))).toEqual([
      'TRITON_ENSEMBLE: ensemble "clf_ensemble": step "clf" input "attention_mask" is not mapped to any ensemble tensor',
      'TRITON_ENSEMBLE: ensemble "clf_ensemble": output "logits" is not produced by any step',
    ]);
  });

  it('finds a composing model that batches less than the ensemble', () => {
    const small = { ...model, maxBatchSize: 4, dynamicBatching: undefined };
    expect(messages(planned(small, tokenizer, ensemble))).toEqual(['TRITON_ENSEMBLE: ensemble "clf_ensemble" allows batches of 8, but its step "clf" has max_batch_size 4']);
  });

  it('checks a TensorRT model against its engine profile: batch range, input names, axes', () => {
    const trt = buildModelConfig(tinyClassifier(), { name: 'clf_trt', runtime: 'tensorrt' }, withDefaults({ maxBatchSize: 8 }));
    const profile = (min: number[], max: number[]) => ({ min, opt: max, max });
    const withEngine = (profiles: Record<string, { min: number[]; opt: number[]; max: number[] }>) => [{ ...planned(trt)[0]!, engine: { profiles } }];
    expect(messages(withEngine({ input_ids: profile([1, 1], [8, 64]), attention_mask: profile([1, 1], [8, 64]) }))).toEqual([]);
    expect(messages(withEngine({ input_ids: profile([2, 1], [8, 64]), attention_mask: profile([1, 1], [8, 64]) }))).toEqual([
      'TRITON_ENGINE_PROFILE: "clf_trt": max_batch_size is 8, but the engine\'s profile for "input_ids" takes batches 2…8',
    ]);
    expect(messages(withEngine({ input_ids: profile([1, 1], [8, 64]), mask: profile([1, 1], [8, 64]) }))).toEqual([
      'TRITON_ENGINE_PROFILE: "clf_trt": the engine has no optimisation profile for input "attention_mask" (it has: input_ids, mask)',
      'TRITON_ENGINE_PROFILE: "clf_trt": the engine has an input "mask" that the config does not declare',
    ]);
    expect(messages(withEngine({ input_ids: profile([1], [8]), attention_mask: profile([1, 1], [8, 64]) }))).toEqual([
      'TRITON_ENGINE_PROFILE: "clf_trt": input "input_ids" has 2 axes in the config but 1 in the engine\'s profile',
    ]);
  });
});
