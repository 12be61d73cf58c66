// The embedding head as ONNX nodes on the encoder's last hidden state, computing what
// sentence_transformers/models/Pooling.py and Normalize.py compute:
//   mean:           Σ_t h_t·m_t / max(Σ_t m_t, 1e-9)          (m = attention_mask)
//   mean_sqrt_len:  Σ_t h_t·m_t / sqrt(max(Σ_t m_t, 1e-9))
//   max:            max_t (m_t ? h_t : −1e9)
//   cls:            h_0
//   normalize:      v / max(‖v‖₂, 1e-12)                      (torch.nn.functional.normalize)
// Output `sentence_embedding` [batch, hidden], the name sentence-transformers' ONNX exports use.
import { attrInt, attrInts, DataType } from '../../export/graph-builder.ts';
import { firstToken, type ExportContext, type ExportHead } from '../../export/layers.ts';
import type { ExportHeadSource } from '../task.ts';
import { readPooling, type PoolingSpec } from './pooling.ts';

export const EMBEDDING_OUTPUT = 'sentence_embedding';

export function poolingHead(spec: PoolingSpec): ExportHead {
  return async (ctx: ExportContext, hidden: string) => {
    const { g, cfg } = ctx;
    const scope = '/pooling';
    let pooled: string;
    if (spec.mode === 'cls') {
      pooled = firstToken(ctx, hidden, scope);
    } else {
      // [b, s] int64 → [b, s, 1] float, broadcast over the hidden axis.
      const maskF = g.op('Cast', ['attention_mask'], { name: `${scope}/Cast`, attrs: [attrInt('to', DataType.FLOAT)] });
      const mask3 = g.op('Unsqueeze', [maskF, g.ints([-1])], { name: `${scope}/Unsqueeze` });
      if (spec.mode === 'max') {
        const masked = g.op('Where', [g.op('Equal', [mask3, g.scalar(0)], { name: `${scope}/Equal` }), g.scalar(-1e9), hidden], { name: `${scope}/Where` });
        // ReduceMax takes its axes as an attribute up to opset 17.
        pooled = g.op('ReduceMax', [masked], { name: `${scope}/ReduceMax`, attrs: [attrInts('axes', [1]), attrInt('keepdims', 0)] });
      } else {
        const sum = g.op('ReduceSum', [g.op('Mul', [hidden, mask3], { name: `${scope}/Mul` }), g.ints([1])], { name: `${scope}/ReduceSum`, attrs: [attrInt('keepdims', 0)] });
        const count = g.op('ReduceSum', [mask3, g.ints([1])], { name: `${scope}/ReduceSum`, attrs: [attrInt('keepdims', 0)] });
        let denom = g.op('Max', [count, g.scalar(1e-9)], { name: `${scope}/Max` });
        if (spec.mode === 'mean_sqrt_len') denom = g.op('Sqrt', [denom], { name: `${scope}/Sqrt` });
        pooled = g.op('Div', [sum, denom], { name: `${scope}/Div` });
      }
    }
    if (spec.normalize) {
      const norm = g.op('ReduceL2', [pooled], { name: '/normalize/ReduceL2', attrs: [attrInts('axes', [-1]), attrInt('keepdims', 1)] });
      pooled = g.op('Div', [pooled, g.op('Max', [norm, g.scalar(1e-12)], { name: '/normalize/Max' })], { name: '/normalize/Div' });
    }
    g.output(g.rename(pooled, EMBEDDING_OUTPUT), DataType.FLOAT, ['batch', cfg.hiddenSize]);
  };
}

/** onnx.export's head for the task (src/tasks/head-registry.ts): the pooling the model folder declares. */
export async function embeddingExportHead({ modelDir }: ExportHeadSource): Promise<{ build: ExportHead; description: string }> {
  const pooling = await readPooling(modelDir);
  return { build: poolingHead(pooling), description: `${pooling.mode} pooling${pooling.normalize ? ' + L2 normalisation' : ''} (${pooling.from})` };
}
