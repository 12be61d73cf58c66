// Ranges the operator already knows. Softmax and Sigmoid outputs lie in [0, 1] and Tanh outputs in
// [−1, 1] whatever the input, so a calibrator has nothing to estimate there: the exact range gives
// attention probabilities the scale TensorRT's BERT samples fix for them (1/127 for int8 symmetric,
// 1/255 with zero point 0 for uint8). Worse, the histogram methods would cut them: percentile and
// entropy (KL) see a mass of tiny probabilities and a few near 1, and clip exactly the large ones
// that carry the attention (the shipped BERT's Softmax outputs were cut at ~0.9).
//
// The producer is looked for through ops that only move or relabel values (Reshape, Transpose, a Cast
// between float types…): torch.onnx.export's ViT puts two Casts between Softmax and the P·V MatMul.
// Relu and Clip are left to the methods: their lower side is already exact (min 0 gives uint8 zero
// point 0), and their upper side is data-dependent.
import { attrInt } from '../onnx/graph.ts';
import { DataType, type ModelProto, type NodeProto } from '../onnx/types.ts';

export interface KnownRange {
  min: number;
  max: number;
  /** Which rule set it, as calibration.json records it: "softmax [0, 1]". */
  rule: string;
}

const BOUNDED: Record<string, { min: number; max: number }> = {
  Softmax: { min: 0, max: 1 },
  Sigmoid: { min: 0, max: 1 },
  Tanh: { min: -1, max: 1 },
};

/** Ops whose output holds the same values as their first input (a subset, rearranged). */
const SAME_VALUES = new Set(['Identity', 'Reshape', 'Transpose', 'Flatten', 'Squeeze', 'Unsqueeze', 'Dropout']);
const FLOAT_TYPES = new Set<number>([DataType.FLOAT, DataType.FLOAT16, DataType.DOUBLE, DataType.BFLOAT16]);

function passesValues(n: NodeProto): boolean {
  // A Cast to an integer type would round the probabilities away; one between float types keeps [0, 1].
  return SAME_VALUES.has(n.opType) || (n.opType === 'Cast' && FLOAT_TYPES.has(attrInt(n, 'to', 0)));
}

/** Whether calibration.json's `rangeFrom` names an op's known range ("softmax [0, 1]") rather than a method ("entropy", "percentile 99.99"). */
export function isKnownRangeRule(rangeFrom: unknown): boolean {
  return typeof rangeFrom === 'string' && /^[a-z]+ \[/.test(rangeFrom);
}

/** The known range of each tensor (by name) that a bounded op of the default domain produces; undefined for the others. */
export function knownRanges(model: ModelProto, tensors: string[]): (KnownRange | undefined)[] {
  const producer = new Map<string, NodeProto>();
  for (const n of model.graph.node) {
    // A custom-domain op named Softmax is not ONNX's Softmax: no promise about its range.
    if (n.domain && n.domain !== 'ai.onnx') continue;
    // Only the first output: Dropout's second output is its mask.
    if (n.output[0]) producer.set(n.output[0], n);
  }
  return tensors.map((t) => {
    let n = producer.get(t);
    // Bounded by the graph's length: each step goes to an earlier node of a DAG.
    for (let steps = 0; n && passesValues(n) && steps < model.graph.node.length; steps++) n = producer.get(n.input[0] ?? '');
    const b = n ? BOUNDED[n.opType] : undefined;
    return n && b ? { ...b, rule: `${n.opType.toLowerCase()} [${b.min}, ${b.max}]` } : undefined;
  });
}
