// The optimisation profile trtexec builds with: for every graph input that has a dynamic axis, its
// min/opt/max shapes. TensorRT needs one for each such input, or it fixes the axis to 1
// ("--minShapes ... for every dynamic input", TensorRT developer guide, "Working with Dynamic Shapes").
import type { ModelProto, ValueInfoProto } from '../../src/onnx/types.ts';
import { toNumber } from '../../src/onnx/types.ts';
import { trtexecErrors } from './errors.ts';
import type { ResolvedShapes } from './derive-shapes.ts';
import type { ShapePoint } from './options.ts';

export interface InputProfile {
  name: string;
  min: number[];
  opt: number[];
  max: number[];
}

/** An axis as the graph declares it: a fixed size, or dynamic (with its dim_param name if any). */
export interface Axis {
  size?: number;
  dimParam?: string;
}

/** Graph inputs that are fed at run time (initializers listed as inputs, an IR < 4 habit, are not). */
export function runtimeInputs(model: ModelProto): ValueInfoProto[] {
  const initializers = new Set(model.graph.initializer.map((t) => t.name));
  return model.graph.input.filter((i) => !initializers.has(i.name));
}

export function axesOf(input: ValueInfoProto): Axis[] {
  const dims = input.type?.tensorType?.shape?.dim ?? [];
  return dims.map((d) => {
    const size = d.dimValue === undefined || d.dimValue === null ? 0 : toNumber(d.dimValue);
    // dim_value 0 (or absent) is how protobuf spells "unset": the axis is dynamic.
    return size > 0 ? { size } : { dimParam: d.dimParam || undefined };
  });
}

/**
 * A dynamic axis takes its size from the shape point: first by its dim_param name (an explicit key
 * such as `past_sequence: 64`), else by position (axis 0 = batch, axis 1 = sequence), which is the
 * [batch, sequence] layout of every encoder's input_ids / attention_mask / token_type_ids.
 */
function sizeOf(input: string, axis: Axis, index: number, point: ShapePoint, pointName: string): number {
  if (axis.size !== undefined) return axis.size;
  const named = axis.dimParam !== undefined ? point[axis.dimParam] : undefined;
  const positional = index === 0 ? point.batch : index === 1 ? point.sequence : undefined;
  const size = named ?? positional;
  if (size === undefined) throw trtexecErrors.shapeMissing(input, index, axis.dimParam, pointName);
  return size;
}

export function inputProfiles(model: ModelProto, shapes: Pick<ResolvedShapes, 'min' | 'opt' | 'max'> & { origin?: ResolvedShapes['origin'] }): InputProfile[] {
  const profiles: InputProfile[] = [];
  for (const input of runtimeInputs(model)) {
    const axes = axesOf(input);
    if (axes.every((a) => a.size !== undefined)) continue; // static: TensorRT needs no profile for it
    if (input.name.includes(',')) throw trtexecErrors.inputNameUnusable(input.name);
    const at = (point: ShapePoint, pointName: string) => axes.map((a, i) => sizeOf(input.name, a, i, point, pointName));
    const profile = { name: input.name, min: at(shapes.min, 'min'), opt: at(shapes.opt, 'opt'), max: at(shapes.max, 'max') };
    const ordered = profile.min.every((m, i) => m <= profile.opt[i]! && profile.opt[i]! <= profile.max[i]!);
    if (!ordered) throw trtexecErrors.shapeOrder(input.name, profile.min, profile.opt, profile.max, shapes.origin);
    profiles.push(profile);
  }
  return profiles;
}

/**
 * `name:1x16,name2:1x16`, the spec trtexec parses: it splits the list on commas and each entry on
 * its last colon, and strips single quotes from the name, so a name holding a colon is quoted.
 */
export function shapeSpec(profiles: InputProfile[], point: 'min' | 'opt' | 'max'): string {
  return profiles
    .map((p) => `${p.name.includes(':') ? `'${p.name}'` : p.name}:${p[point].join('x')}`)
    .join(',');
}

/** The three profile flags; none for a model whose inputs are all static. */
export function inputShapeFlags(profiles: InputProfile[]): string[] {
  if (profiles.length === 0) return [];
  return (['min', 'opt', 'max'] as const).map((p) => `--${p}Shapes=${shapeSpec(profiles, p)}`);
}
