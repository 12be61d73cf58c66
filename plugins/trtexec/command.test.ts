import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { QrunError } from '../../src/errors.ts';
import { DataType } from '../../src/onnx/types.ts';
import { renderCommand, trtexecArgs } from './command.ts';
import { inputProfiles } from './input-shapes.ts';
import { DEFAULTS, optionsSchema, withDefaults, type TrtexecOptions } from './options.ts';

/** A profile as a recipe writes it (recipes/bert-int8.yaml style). */
const SHAPES = {
  min: { batch: 1, sequence: 16 },
  opt: { batch: 8, sequence: 128 },
  max: { batch: 32, sequence: 256 },
};
import { tensorInfo, tinyClassifier } from './testing/tiny-onnx.ts';

const defaults = (o: Partial<TrtexecOptions> = {}) => withDefaults(o);

describe('inputProfiles', () => {
  it('gives every dynamic input min/opt/max shapes, by position: batch then sequence', () => {
    const profiles = inputProfiles(tinyClassifier(), SHAPES);
    expect(profiles).toEqual([
      { name: 'input_ids', min: [1, 16], opt: [8, 128], max: [32, 256] },
      { name: 'attention_mask', min: [1, 16], opt: [8, 128], max: [32, 256] },
    ]);
  });

  it('sizes an axis by its dim_param name first, keeps static axes and skips static inputs', () => {
    const model = tinyClassifier({
      batch: 'batch_size',
      sequence: 'sequence_length',
      extraInputs: [tensorInfo('past', DataType.FLOAT, ['batch_size', 4, 'past_len']), tensorInfo('scale', DataType.FLOAT, [1])],
    });
    const shapes = { min: { batch: 1, sequence: 8, past_len: 1 }, opt: { batch: 2, sequence: 8, past_len: 5 }, max: { batch: 4, sequence: 64, past_len: 9 } };
    const profiles = inputProfiles(model, shapes);
    expect(profiles.map((p) => p.name)).toEqual(['input_ids', 'attention_mask', 'past']);
    expect(profiles[2]).toEqual({ name: 'past', min: [1, 4, 1], opt: [2, 4, 5], max: [4, 4, 9] });
  });

  it('does not treat initializers listed as graph inputs (IR < 4) as inputs', () => {
    const model = tinyClassifier({ extraInputs: [tensorInfo('classifier.weight', DataType.FLOAT, ['rows', 2])] });
    expect(inputProfiles(model, SHAPES).map((p) => p.name)).toEqual(['input_ids', 'attention_mask']);
  });

  it('names the input, axis and dim_param when an axis cannot be sized', () => {
    const model = tinyClassifier({ extraInputs: [tensorInfo('past', DataType.FLOAT, ['batch', 4, 'past_len'])] });
    expect(() => inputProfiles(model, SHAPES)).toThrow(QrunError);
    expect(() => inputProfiles(model, SHAPES)).toThrow(/axis 2 \("past_len"\) of input "past" for shapes.min/);
  });

  it('refuses a profile that is not min ≤ opt ≤ max', () => {
    const shapes = { ...SHAPES, opt: { batch: 64, sequence: 128 } };
    expect(() => inputProfiles(tinyClassifier(), shapes)).toThrow(/not ordered: min 1x16, opt 64x128, max 32x256/);
  });
});

describe('trtexecArgs', () => {
  const profiles = inputProfiles(tinyClassifier(), SHAPES);

  it('builds the TensorRT 10 command line for an INT8 QDQ build', () => {
    expect(trtexecArgs('/store/ab/model.onnx', profiles, defaults({ workspaceMiB: 2048, optimizationLevel: 4 }))).toEqual([
      '--onnx=/store/ab/model.onnx',
      '--saveEngine=model.plan',
      '--minShapes=input_ids:1x16,attention_mask:1x16',
      '--optShapes=input_ids:8x128,attention_mask:8x128',
      '--maxShapes=input_ids:32x256,attention_mask:32x256',
      '--int8',
      '--fp16',
      '--memPoolSize=workspace:2048M',
      '--timingCacheFile=timing.cache',
      '--builderOptimizationLevel=4',
    ]);
  });

  it('passes no precision flag for fp32, --stronglyTyped instead of precision flags, and extras last', () => {
    const fp32 = trtexecArgs('m.onnx', [], defaults({ precision: ['fp32'], timingCache: false, skipInference: true, verbose: true }));
    expect(fp32).toEqual(['--onnx=m.onnx', '--saveEngine=model.plan', '--skipInference', '--verbose']);
    const typed = trtexecArgs('m.onnx', [], defaults({ stronglyTyped: true, timingCache: false, extraArgs: ['--useCudaGraph', '--noDataTransfers'] }));
    expect(typed).toEqual(['--onnx=m.onnx', '--saveEngine=model.plan', '--stronglyTyped', '--useCudaGraph', '--noDataTransfers']);
  });

  it('passes --best alone for precision best, and --fp16 alone for fp16', () => {
    expect(trtexecArgs('m.onnx', [], defaults({ precision: ['best', 'int8'], timingCache: false }))).toEqual(['--onnx=m.onnx', '--saveEngine=model.plan', '--best']);
    expect(trtexecArgs('m.onnx', [], defaults({ precision: ['fp16'], timingCache: false }))).toEqual(['--onnx=m.onnx', '--saveEngine=model.plan', '--fp16']);
    // Strongly typed wins over every precision flag, --best included.
    expect(trtexecArgs('m.onnx', [], defaults({ precision: ['best'], stronglyTyped: true, timingCache: false }))).toEqual(['--onnx=m.onnx', '--saveEngine=model.plan', '--stronglyTyped']);
  });

  it('exports times, a separately-run profile and detailed layer info to JSON files in the step output', () => {
    const args = trtexecArgs('m.onnx', [], defaults({ precision: ['fp32'], timingCache: false, exportTimes: true, exportProfile: true, exportLayerInfo: true }));
    expect(args).toEqual([
      '--onnx=m.onnx',
      '--saveEngine=model.plan',
      '--profilingVerbosity=detailed',
      '--exportLayerInfo=layers.json',
      '--exportTimes=times.json',
      '--separateProfileRun',
      '--exportProfile=profile.json',
    ]);
    // Without a timed run there are no times or profile to export; the layer info comes from the build.
    const buildOnly = trtexecArgs('m.onnx', [], defaults({ precision: ['fp32'], timingCache: false, skipInference: true, exportTimes: true, exportProfile: true, exportLayerInfo: true }));
    expect(buildOnly).toEqual(['--onnx=m.onnx', '--saveEngine=model.plan', '--skipInference', '--profilingVerbosity=detailed', '--exportLayerInfo=layers.json']);
  });

  it('quotes a tensor name holding a colon the way trtexec strips it', () => {
    const model = tinyClassifier();
    model.graph.input[0]!.name = 'input:0';
    const args = trtexecArgs('m.onnx', inputProfiles(model, SHAPES), defaults());
    expect(args[2]).toBe("--minShapes='input:0':1x16,attention_mask:1x16");
  });

  it('renders a pasteable shell command', () => {
    expect(renderCommand('/opt/tensorrt/bin/trtexec', ['--onnx=/a b/m.onnx', '--int8'])).toBe("/opt/tensorrt/bin/trtexec '--onnx=/a b/m.onnx' --int8");
  });
});

describe('options schema', () => {
  const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false });
  const validate = ajv.compile(optionsSchema);

  it('fills every default and leaves the shape points the recipe did not give to be derived', () => {
    const options: Record<string, unknown> = { shapes: { max: { batch: 4, sequence: 64 } } };
    expect(validate(options)).toBe(true);
    expect(options).toEqual({ ...DEFAULTS, shapes: { max: { batch: 4, sequence: 64 } } });
    expect(withDefaults(options)).toEqual(options);
    const none: Record<string, unknown> = {};
    expect(validate(none)).toBe(true);
    expect(none.shapes).toBeUndefined();
    expect(withDefaults(none)).toEqual({ ...none, shapes: {} }); // every point derived
  });

  it('rejects unknown precisions, extra arguments that clash with ours, and relative trtexec paths', () => {
    expect(validate({ precision: ['int4'] })).toBe(false);
    expect(validate({ extraArgs: ['--saveEngine=x.plan'] })).toBe(false);
    expect(validate({ extraArgs: ['--onnx=x.onnx'] })).toBe(false);
    expect(validate({ extraArgs: ['--exportTimes=t.json'] })).toBe(false);
    expect(validate({ extraArgs: ['--maxShapes=input_ids:1x8'] })).toBe(false);
    expect(validate({ precision: ['best'] })).toBe(true);
    expect(validate({ trtexec: 'bin/trtexec' })).toBe(false);
    expect(validate({ trtexec: '/opt/tensorrt/bin/trtexec' })).toBe(true);
    expect(validate({ trtexec: 'trtexec-10.6' })).toBe(true);
  });
});
