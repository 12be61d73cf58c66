// config.json + weights → an ONNX ModelProto for an encoder family, in TypeScript (no Python).
import { QRUN_VERSION } from '../version.ts';
import type { ModelProto } from '../onnx/types.ts';
import { buildBert } from './bert.ts';
import { buildDistilbert } from './distilbert.ts';
import { buildElectra } from './electra.ts';
import { taskFromArchitectures, type EncoderConfig, type ExportTask, type Family } from './encoder-config.ts';
import { GraphBuilder } from './graph-builder.ts';
import type { ExportContext, ExportHead } from './layers.ts';
import { buildRoberta } from './roberta.ts';
import type { WeightSource } from './weight-source.ts';

const BUILDERS: Record<Family, (ctx: ExportContext, task: ExportTask) => Promise<void>> = {
  bert: buildBert,
  roberta: buildRoberta,
  distilbert: buildDistilbert,
  electra: buildElectra,
};

export interface ExportResult {
  model: ModelProto;
  task: ExportTask;
  parameters: number;
}

/**
 * Builds the graph for `task` (default: from config.architectures) with weights from `weights`;
 * `head`, a task's own head (src/tasks/<task>/), replaces the family's.
 */
export async function exportEncoder(cfg: EncoderConfig, weights: WeightSource, task?: ExportTask, head?: ExportHead): Promise<ExportResult> {
  const chosen = task ?? taskFromArchitectures(cfg.architectures);
  const g = new GraphBuilder(`${cfg.modelType}-${chosen}`);
  await BUILDERS[cfg.family]({ g, w: weights, cfg, ...(head ? { head } : {}) }, chosen);
  const model = g.toModel({
    producerVersion: QRUN_VERSION,
    docString: `${cfg.modelType} (${cfg.architectures[0] ?? 'no architectures'}) exported natively by qrun for ${chosen}`,
  });
  return { model, task: chosen, parameters: g.parameters };
}
