// The activation scales of a QDQ model: which tensors its QuantizeLinear nodes quantize, and writing
// the scale / zero point that a calibrated range gives into every Q/DQ pair of a tensor. Shared by
// calibrate (ranges measured with onnxruntime) and the bench's placement variants (the same ranges
// applied to another placement of the same FP32 model).
import { makeFloatTensor, makeInt8Tensor, makeUint8Tensor } from '../onnx/tensor.ts';
import { DataType, type ModelProto } from '../onnx/types.ts';
import { asymmetricUint8, symmetricScale } from './scale-math.ts';

export interface ActivationSlot {
  tensor: string;
  /** Every (scale, zero point) initializer pair that quantizes this tensor (one per consumer). */
  params: { scale: string; zeroPoint: string }[];
  zeroPointType: number;
}

/** A calibrated range: the tensor's min and max, and the |x| threshold the method chose. */
export interface CalibratedRange {
  min: number;
  max: number;
  threshold: number;
}

/** The activations a QDQ model quantizes: QuantizeLinear nodes fed by a non-constant tensor. */
export function findActivationSlots(model: ModelProto): ActivationSlot[] {
  const inits = new Map(model.graph.initializer.map((t) => [t.name ?? '', t]));
  const slots = new Map<string, ActivationSlot>();
  for (const n of model.graph.node) {
    if (n.opType !== 'QuantizeLinear' || inits.has(n.input[0]!)) continue;
    const zp = inits.get(n.input[2] ?? '');
    let slot = slots.get(n.input[0]!);
    if (!slot) {
      slot = { tensor: n.input[0]!, params: [], zeroPointType: zp?.dataType ?? DataType.UINT8 };
      slots.set(slot.tensor, slot);
    }
    if (!slot.params.some((p) => p.scale === n.input[1])) slot.params.push({ scale: n.input[1]!, zeroPoint: n.input[2] ?? '' });
  }
  return [...slots.values()];
}

/**
 * Writes each slot's scale and zero point: int8 symmetric from the threshold (scale = T / 127,
 * zero point 0), uint8 asymmetric over [max(min, −T), min(max, T)]. Returns them per slot.
 */
export function applyActivationScales(model: ModelProto, slots: ActivationSlot[], ranges: CalibratedRange[]): { scale: number; zeroPoint: number }[] {
  const inits = new Map(model.graph.initializer.map((t, i) => [t.name ?? '', i]));
  return slots.map((s, k) => {
    const r = ranges[k]!;
    const t = r.threshold;
    let scale: number;
    let zeroPoint = 0;
    if (s.zeroPointType === DataType.INT8) scale = symmetricScale(t);
    else ({ scale, zeroPoint } = asymmetricUint8(Math.max(r.min, -t), Math.min(r.max, t)));
    for (const p of s.params) {
      model.graph.initializer[inits.get(p.scale)!] = makeFloatTensor(p.scale, [], Float32Array.of(scale));
      if (p.zeroPoint) {
        model.graph.initializer[inits.get(p.zeroPoint)!] =
          s.zeroPointType === DataType.INT8 ? makeInt8Tensor(p.zeroPoint, [], Int8Array.of(zeroPoint)) : makeUint8Tensor(p.zeroPoint, [], Uint8Array.of(zeroPoint));
      }
    }
    return { scale, zeroPoint };
  });
}
