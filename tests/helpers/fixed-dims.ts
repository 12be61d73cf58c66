// A model whose graph inputs have fixed dims, made from a dynamic one the way an exporter without
// dynamic axes writes it: each input's dims become dim_value. The rest of the graph stays dynamic,
// which onnxruntime accepts (it checks the feeds against the inputs' dims: "Got invalid dimensions").
import type { ModelProto } from '../../src/onnx/types.ts';

/** Sets every graph input's dims to `dims` (token-id inputs: [batch, sequence]); returns the model. */
export function withFixedInputDims(model: ModelProto, dims: number[]): ModelProto {
  for (const input of model.graph.input) {
    const shape = input.type?.tensorType?.shape;
    if (!shape || shape.dim.length !== dims.length) throw new Error(`input ${input.name} has rank ${shape?.dim.length}, not ${dims.length}`);
    shape.dim = dims.map((d) => ({ dimValue: d }));
  }
  return model;
}
