// Ranges the operator already knows. Softmax and Sigmoid outputs lie in [0, 1] and Tanh outputs in
// [−1, 1] whatever the input, so a calibrator has nothing to estimate there: the exact range gives
// attention probabilities the scale TensorRT's BERT samples fix for them (1/127 for int8 symmetric,
// 1/255 with zero point 0 for uint8). Worse, the histogram methods would cut them: percentile and
// entropy (KL) see a mass of tiny probabilities and a few near 1, and clip exactly the large ones
// that carry the attention (the shipped BERT's Softmax outputs were cut at ~0.9).
//
// Relu and Clip give bounds instead of a range: their output lies in [0, ∞) and [min, max], but where
// in it the data lie depends on the input. The calibrated range is never wider than the bounds (a
// Relu6-like Clip(0, 6) gets at most [0, 6]; uint8's zero point of a Relu output is 0). Whether a
// histogram method may cut below a bound is decided by the squared error of the consumer's output
// (src/quant/auto-calibrator.ts: no cut below the threshold of least error): a Clip that saturates
// puts a point mass exactly at its bound, and moving that whole mass m from b to T < b costs
// m·(b − T)², whose growth 2m·(b − T) outweighs the rounding error's 2T/(3·127²) as soon as
// b − T > T/(3·127²·m), a few thousandths of b for m = 0.6%. KL never weighs that distance.
//
// The producer is looked for through ops that only move or relabel values (Reshape, Transpose, a Cast
// between float types…): torch.onnx.export's ViT puts two Casts between Softmax and the P·V MatMul.
// Bounds (not exact ranges) also pass through max pooling: a maximum of values in [a, b] is in [a, b].
import { attr, attrInt } from '../onnx/graph.ts';
import { tensorToFloat32 } from '../onnx/tensor.ts';
import { DataType, type ModelProto, type NodeProto, type TensorProto } from '../onnx/types.ts';

export interface KnownRange {
  /** ±Infinity where a side is unbounded (Relu's upper side). */
  min: number;
  max: number;
  /** Which rule set it, as calibration.json records it: "softmax [0, 1]", "clip [0, 6]", "relu [0, inf)". */
  rule: string;
  /**
   * exact: the values fill the range for any data that matters (attention probabilities reach 1), so
   * the range replaces the calibrated one; bound: the values lie inside, and the calibrated range is
   * capped by it.
   */
  kind: 'exact' | 'bound';
}

const EXACT: Record<string, { min: number; max: number }> = {
  Softmax: { min: 0, max: 1 },
  Sigmoid: { min: 0, max: 1 },
  Tanh: { min: -1, max: 1 },
};

/** Ops whose output holds the same values as their first input (a subset, rearranged). */
const SAME_VALUES = new Set(['Identity', 'Reshape', 'Transpose', 'Flatten', 'Squeeze', 'Unsqueeze', 'Dropout']);
/** Ops whose outputs are some of their input's values: they keep bounds, not exact ranges (a max pool of probabilities need not reach 0). */
const SUBSET_VALUES = new Set(['MaxPool', 'GlobalMaxPool', 'ReduceMax']);
const FLOAT_TYPES = new Set<number>([DataType.FLOAT, DataType.FLOAT16, DataType.DOUBLE, DataType.BFLOAT16]);

function passesValues(n: NodeProto): boolean {
  // A Cast to an integer type would round the probabilities away; one between float types keeps [0, 1].
  return SAME_VALUES.has(n.opType) || (n.opType === 'Cast' && FLOAT_TYPES.has(attrInt(n, 'to', 0)));
}

/** Whether calibration.json's `rangeFrom` names an op's known range ("softmax [0, 1]") rather than a method ("entropy", "percentile 99.99"). */
export function isKnownRangeRule(rangeFrom: unknown): boolean {
  return typeof rangeFrom === 'string' && /^[a-z]+ [[(]/.test(rangeFrom);
}

/** A number as a rule writes it: 6, -1, 0.5, inf. */
const show = (x: number) => (x === Infinity ? 'inf' : x === -Infinity ? '-inf' : String(Number(x.toPrecision(7))));

/**
 * The value of a scalar constant: an initializer (in memory: readModelGraph keeps small tensors) or
 * a Constant node's `value` / `value_float`. Undefined when it is not constant or not one number.
 */
function constantScalar(name: string, inits: Map<string, TensorProto>, producer: Map<string, NodeProto>): number | undefined {
  if (!name) return undefined;
  const read = (t: TensorProto | undefined) => {
    try {
      const v = t ? tensorToFloat32(t) : undefined;
      return v && v.length === 1 && !Number.isNaN(v[0]!) ? v[0]! : undefined;
    } catch {
      return undefined; // external data or an unreadable type: not a bound we can use
    }
  };
  const init = inits.get(name);
  if (init) return read(init);
  const n = producer.get(name);
  if (n?.opType !== 'Constant') return undefined;
  const f = attr(n, 'value_float');
  if (f?.f !== undefined && f.f !== null) return f.f;
  return read(attr(n, 'value')?.t ?? undefined);
}

/** Clip's bounds: inputs 1 and 2 since opset 11 (either may be absent), attributes min/max before. */
function clipBounds(n: NodeProto, inits: Map<string, TensorProto>, producer: Map<string, NodeProto>): { min: number; max: number } | undefined {
  const fromAttr = (key: 'min' | 'max') => {
    const a = attr(n, key);
    return a?.f !== undefined && a.f !== null ? a.f : undefined;
  };
  // An input that is given but not constant bounds nothing we can know here: that side is open.
  const side = (input: string | undefined, key: 'min' | 'max', open: number) => {
    const v = input ? constantScalar(input, inits, producer) : fromAttr(key);
    // Opset 6's defaults are ±FLT_MAX: no bound.
    return v === undefined || Math.abs(v) >= 3.4e38 ? open : v;
  };
  const min = side(n.input[1], 'min', -Infinity);
  const max = side(n.input[2], 'max', Infinity);
  return min === -Infinity && max === Infinity ? undefined : { min, max };
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
  const inits = new Map(model.graph.initializer.map((t) => [t.name ?? '', t]));
  return tensors.map((t) => {
    let n = producer.get(t);
    let subset = false;
    // Bounded by the graph's length: each step goes to an earlier node of a DAG.
    for (let steps = 0; n && steps < model.graph.node.length; steps++) {
      if (passesValues(n)) n = producer.get(n.input[0] ?? '');
      else if (SUBSET_VALUES.has(n.opType)) {
        subset = true;
        n = producer.get(n.input[0] ?? '');
      } else break;
    }
    if (!n) return undefined;
    const exact = EXACT[n.opType];
    if (exact) {
      const rule = `${n.opType.toLowerCase()} [${exact.min}, ${exact.max}]`;
      return { ...exact, rule, kind: subset ? 'bound' : 'exact' };
    }
    const b = n.opType === 'Relu' ? { min: 0, max: Infinity } : n.opType === 'Clip' ? clipBounds(n, inits, producer) : undefined;
    if (!b) return undefined;
    const close = b.max === Infinity ? ')' : ']';
    const open = b.min === -Infinity ? '(' : '[';
    return { ...b, rule: `${n.opType.toLowerCase()} ${open}${show(b.min)}, ${show(b.max)}${close}`, kind: 'bound' };
  });
}
