import type { SourceLocation } from '../errors.ts';
import type { YamlLocator } from './yaml-positions.ts';
import type { GateOperator } from './gate-condition.ts';

export interface StepSpec {
  id: string;
  uses: string;
  options: Record<string, unknown>;
  inputs: Record<string, string>;
  optional: boolean;
  index: number;
  location: SourceLocation;
}

export interface Gate {
  metric: string;
  op: GateOperator;
  value: number;
  /** Written as a percentage ("99.5%", value 0.995): only a metric whose unit is a ratio takes one. */
  percent?: boolean;
  location: SourceLocation;
}

/** One entry of `outputs:`: a step's output to put in the deliverables folder, under `to` when given. */
export interface OutputEntry {
  /** `stepId.output` */
  from: string;
  /** Path inside the deliverables folder; default: the output's own file name. */
  to?: string;
  location: SourceLocation;
  /** Where `to:` is written, for errors about the path. */
  toLocation?: SourceLocation;
}

/** How deliverables are placed: copies (copy-on-write where possible) or hard links into the cache. */
export type OutMode = 'copy' | 'link';

export interface Recipe {
  file: string;
  dir: string;
  name: string;
  description?: string;
  /** sha256 of the recipe's data as canonical JSON (comments and formatting do not count). */
  hash: string;
  /** The recipe as parsed, for the report. */
  raw: Record<string, unknown>;
  /** The model folder; for a hub id, the cache snapshot it resolved to and its commit. */
  model?: { path: string; location: SourceLocation; hub?: { id: string; revision: string } };
  data: Record<string, { path: string; location: SourceLocation }>;
  /** `task:`: what the model is for (src/tasks/task.ts); passed to every step that has a `task` option. */
  task?: { name: string; location: SourceLocation };
  steps: StepSpec[];
  gates: Gate[];
  /** `outputs:`: the deliverables the recipe lists (undefined: the default set, see src/engine/deliverables-select.ts). */
  outputs?: OutputEntry[];
  /** `out:`: the deliverables folder (absolute) and how files are placed there. */
  out?: { path?: string; mode?: OutMode; location: SourceLocation };
  locator: YamlLocator;
  /** For a recipe with `matrix:`: its axes and one fully substituted recipe per variant. */
  matrix?: { axes: Record<string, (string | number | boolean)[]>; variants: Recipe[] };
  /** For one variant of a matrix: its label (e.g. "method=minmax,activations=int8") and values. */
  variant?: { label: string; values: Record<string, string | number | boolean> };
}
