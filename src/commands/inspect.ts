// `qrun inspect <model folder | model.onnx | org/name | run report>`: see the graph before writing a
// recipe (node names for `exclude.nodes`, input shapes) and, for a run, which nodes got Q/DQ, which
// stayed float and why, and the calibrated range of every quantized activation.
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { errors } from '../errors.ts';
import { inspectModel, type ModelInspection } from '../onnx/inspect-model.ts';
import { looksLikeHubId, resolveHubId } from '../recipe/hf-cache.ts';
import { floatLayersOf } from '../report/float-layers.ts';
import { formatTable } from '../report/summary.ts';
import { readModelGraph, readTensorData } from '../runtime/model-file.ts';
import type { Output } from '../engine/output.ts';

interface RunContext {
  report: string;
  recipe: string;
  status: string;
  /** The step whose model is shown (the last one that produced a model). */
  step: string;
  /** Why nodes were left in float, by node name: qdq.insert's skips and sensitivity's fallback. */
  floatReasons: Map<string, string>;
}

export interface Inspection {
  model: string;
  run?: Omit<RunContext, 'floatReasons'>;
  graph: ModelInspection;
  /** Reasons by node, for nodes that stayed float in a run. */
  floatReasons?: Record<string, string>;
}

const MODEL_KINDS = new Set(['onnx-model', 'qdq-model']);

interface ReportLike {
  recipe: { name: string };
  run: { status: string };
  steps: { id: string; plugin: string; status: string; metrics: Record<string, unknown>; outputs: Record<string, { kind: string; path: string }> }[];
}

/** A report.json (or the run folder holding it) → the model of its last model-producing step. */
async function fromReport(file: string): Promise<{ model: string; run: RunContext }> {
  let report: ReportLike;
  try {
    report = JSON.parse(await readFile(file, 'utf8')) as ReportLike;
  } catch (e) {
    throw errors.usage(`${file} is not a qrun report.json: ${(e as Error).message}`, 'pass a run folder (.qrun/runs/<id>), its report.json, a model folder or a .onnx file');
  }
  if (!Array.isArray(report.steps)) throw errors.usage(`${file} is not a qrun report.json (no steps)`);
  // Outputs are stored relative to the cache folder, which sits beside runs/ (runs/<id>/report.json).
  const cacheDir = resolve(dirname(file), '..', '..', 'cache');
  const floatReasons = new Map<string, string>();
  let found: { model: string; step: string } | undefined;
  for (const f of floatLayersOf(report.steps)) floatReasons.set(f.node, `${f.step}: ${f.reason}`);
  for (const s of report.steps) {
    if (s.status !== 'ran' && s.status !== 'hit') continue;
    for (const out of Object.values(s.outputs)) if (MODEL_KINDS.has(out.kind)) found = { model: join(cacheDir, out.path), step: s.id };
  }
  if (!found) throw errors.usage(`${file}: no step of this run produced a model`, 'run the recipe past its qdq.insert / calibrate step first');
  if (!existsSync(found.model)) {
    throw errors.fileNotFound(`the model of step "${found.step}" (removed from the cache by \`qrun cache gc\`?)`, found.model);
  }
  return { model: found.model, run: { report: file, recipe: report.recipe.name, status: report.run.status, step: found.step, floatReasons } };
}

/** What the argument names: a report, a run folder, a model folder, a hub id or an .onnx file. */
async function resolveTarget(target: string): Promise<{ model: string; run?: RunContext }> {
  const path = resolve(target);
  if (!existsSync(path)) {
    if (looksLikeHubId(target)) {
      const hub = resolveHubId(target);
      if (!hub.ok) throw errors.usage(hub.reason, hub.hint);
      return resolveTarget(hub.path);
    }
    throw errors.fileNotFound('model or report', path);
  }
  if (statSync(path).isDirectory()) {
    if (existsSync(join(path, 'report.json'))) return fromReport(join(path, 'report.json'));
    for (const f of ['model.onnx', join('onnx', 'model.onnx')]) if (existsSync(join(path, f))) return { model: join(path, f) };
    throw errors.modelDirInvalid(path, 'no model.onnx or onnx/model.onnx (a checkpoint without ONNX: export it first with the onnx.export step)');
  }
  if (path.endsWith('.json')) return fromReport(path);
  return { model: path };
}

export async function inspectTarget(target: string): Promise<Inspection> {
  const { model, run } = await resolveTarget(target);
  // The graph, and the bytes only of the scales and zero points it shows (Q/DQ inputs 1 and 2): a
  // multi-GB model is inspected without reading its weights.
  const proto = await readModelGraph(model);
  const qdqParams = new Set(proto.graph.node.filter((n) => n.opType === 'QuantizeLinear' || n.opType === 'DequantizeLinear').flatMap((n) => n.input.slice(1)));
  await readTensorData(proto, (t) => qdqParams.has(t.name ?? ''));
  const graph = inspectModel(proto);
  if (!run) return { model, graph };
  const { floatReasons, ...rest } = run;
  const reasons: Record<string, string> = {};
  for (const n of graph.quantizable) if (n.precision !== 'int8') reasons[n.name] = floatReasons.get(n.name) ?? (n.precision === 'weights-only' ? 'weights only (mode: weight-only or dynamic)' : 'not placed');
  return { model, run: rest, graph, floatReasons: reasons };
}

const shape = (s: (number | string)[]) => `[${s.join(', ')}]`;
const fmt = (x: number) => (Math.abs(x) >= 100 ? x.toFixed(1) : Math.abs(x) >= 1 ? x.toFixed(3) : x.toPrecision(3));

export function renderInspection(i: Inspection): string {
  const g = i.graph;
  const lines: string[] = [];
  lines.push(`model: ${i.model}`);
  if (i.run) lines.push(`run: ${i.run.report} (recipe ${i.run.recipe}, ${i.run.status}); model of step "${i.run.step}"`);
  lines.push(`producer ${g.producer} · opset ${g.opset} · ${g.nodes} nodes · ${g.initializers} initializers · ${(g.parameters.float / 1e6).toFixed(2)} M float + ${(g.parameters.int8 / 1e6).toFixed(2)} M int8 parameters`);
  lines.push('');
  lines.push(formatTable(['', 'name', 'type', 'shape'], [...g.inputs.map((s) => ['input', s.name, s.type, shape(s.shape)]), ...g.outputs.map((s) => ['output', s.name, s.type, shape(s.shape)])]));
  lines.push('');
  lines.push('ops: ' + g.ops.map((o) => `${o.domain && o.domain !== 'ai.onnx' ? `${o.domain}.` : ''}${o.opType} ${o.count}`).join(' · '));
  lines.push('');
  const int8 = g.quantizable.filter((n) => n.precision === 'int8').length;
  const quantized = int8 > 0 || g.quantizable.some((n) => n.precision === 'weights-only');
  lines.push(
    quantized
      ? `quantizable nodes: ${g.quantizable.length} (${int8} int8, ${g.quantizable.filter((n) => n.precision === 'weights-only').length} weights only, ${g.quantizable.filter((n) => n.precision === 'float').length} float)`
      : `quantizable nodes: ${g.quantizable.length} (MatMul, Gemm, Conv; names are what exclude.nodes patterns match)`,
  );
  const rows = g.quantizable.map((n) => {
    const row = [n.name, n.opType];
    if (!quantized) return row;
    const ranges = n.activations.map((a) => `[${fmt(a.min)}, ${fmt(a.max)}]${a.type === 'uint8' ? ' u8' : ''}`).join(' ');
    return [...row, n.precision, n.weights ?? '', ranges, i.floatReasons?.[n.name] ?? ''];
  });
  lines.push(formatTable(quantized ? ['node', 'op', 'precision', 'weights', 'activation ranges', i.run ? 'why float' : ''] : ['node', 'op'], rows));
  return lines.join('\n');
}

export async function inspectCommand(target: string | undefined, flags: { json?: boolean }, io: Output): Promise<number> {
  if (!target) throw errors.usage('qrun inspect needs a model folder, a .onnx file, a hub id or a run (folder or report.json)', 'qrun inspect models/bert-langid');
  const result = await inspectTarget(target);
  io.out(flags.json ? JSON.stringify(result, null, 2) : renderInspection(result));
  return 0;
}
