// config.json → the few numbers the exporter needs, with transformers' defaults where a key is
// absent. Each family names its keys differently (DistilBERT: dim, n_layers, hidden_dim, activation).
// Defaults: configuration_bert.py, configuration_roberta.py, configuration_distilbert.py,
// configuration_electra.py (BertConfig.__init__ and friends).
import { QrunError } from '../errors.ts';

export type Family = 'bert' | 'roberta' | 'distilbert' | 'electra';
/** A task of src/tasks/task.ts, or `base`: the encoder's last_hidden_state with no head. */
export type ExportTask = 'sequence-classification' | 'token-classification' | 'question-answering' | 'embedding' | 'base';

/** model_type → family. XLM-RoBERTa and CamemBERT are RoBERTa with another vocabulary. */
const FAMILIES: Record<string, Family> = {
  bert: 'bert',
  roberta: 'roberta',
  'xlm-roberta': 'roberta',
  camembert: 'roberta',
  distilbert: 'distilbert',
  electra: 'electra',
};

export const SUPPORTED_MODEL_TYPES = Object.keys(FAMILIES);

export interface EncoderConfig {
  modelType: string;
  family: Family;
  architectures: string[];
  vocabSize: number;
  hiddenSize: number;
  /** ELECTRA's embeddings may be narrower than the encoder (embedding_size); others: hiddenSize. */
  embeddingSize: number;
  layers: number;
  heads: number;
  intermediateSize: number;
  maxPositions: number;
  typeVocabSize: number;
  layerNormEps: number;
  hiddenAct: string;
  padTokenId: number;
  numLabels: number;
  initializerRange: number;
}

const configError = (file: string, message: string, hint: string) =>
  new QrunError([{ code: 'EXPORT_CONFIG_INVALID', message: `${file}: ${message}`, hint }]);

type Raw = Record<string, unknown>;

function num(raw: Raw, file: string, key: string, fallback?: number): number {
  const v = raw[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw configError(file, `"${key}" is missing or not a number`, 'config.json comes from save_pretrained; compare with the model card');
  return v;
}

export function parseEncoderConfig(raw: Raw, file: string): EncoderConfig {
  const modelType = String(raw.model_type ?? '');
  const family = FAMILIES[modelType];
  if (!family) {
    throw configError(
      file,
      `model_type "${modelType}" has no native exporter (supported: ${SUPPORTED_MODEL_TYPES.join(', ')})`,
      'export the model to ONNX with optimum-cli export onnx, or torch.onnx.export, and let hf.load read it',
    );
  }
  const positionType = raw.position_embedding_type ?? 'absolute';
  if (positionType !== 'absolute') {
    throw configError(file, `position_embedding_type "${String(positionType)}" is not supported by the native exporter (only "absolute")`, 'export this model to ONNX with PyTorch instead');
  }
  if (raw.is_decoder === true) throw configError(file, 'is_decoder is true; the native exporter builds bidirectional encoders only', 'export this model to ONNX with PyTorch instead');
  const id2label = raw.id2label as Record<string, string> | undefined;
  // PretrainedConfig: num_labels is len(id2label), 2 when neither is given.
  const numLabels = id2label ? Object.keys(id2label).length : num(raw, file, 'num_labels', 2);
  const architectures = Array.isArray(raw.architectures) ? raw.architectures.map(String) : [];
  const common = { modelType, family, architectures, numLabels, vocabSize: num(raw, file, 'vocab_size'), initializerRange: num(raw, file, 'initializer_range', 0.02) };

  if (family === 'distilbert') {
    // sinusoidal_pos_embds needs nothing special: the sinusoidal table is saved as
    // position_embeddings.weight (create_sinusoidal_embeddings), though random weights are not sinusoidal.
    const hidden = num(raw, file, 'dim', 768);
    return {
      ...common,
      hiddenSize: hidden,
      embeddingSize: hidden,
      layers: num(raw, file, 'n_layers', 6),
      heads: num(raw, file, 'n_heads', 12),
      intermediateSize: num(raw, file, 'hidden_dim', 3072),
      maxPositions: num(raw, file, 'max_position_embeddings', 512),
      typeVocabSize: 0,
      // modeling_distilbert.py: nn.LayerNorm(config.dim, eps=1e-12) everywhere; no config key.
      layerNormEps: 1e-12,
      hiddenAct: String(raw.activation ?? 'gelu'),
      padTokenId: num(raw, file, 'pad_token_id', 0),
    };
  }
  const hidden = num(raw, file, 'hidden_size', 768);
  return {
    ...common,
    hiddenSize: hidden,
    embeddingSize: family === 'electra' ? num(raw, file, 'embedding_size', 128) : hidden,
    layers: num(raw, file, 'num_hidden_layers', 12),
    heads: num(raw, file, 'num_attention_heads', 12),
    intermediateSize: num(raw, file, 'intermediate_size', 3072),
    maxPositions: num(raw, file, 'max_position_embeddings', 512),
    typeVocabSize: num(raw, file, 'type_vocab_size', 2),
    layerNormEps: num(raw, file, 'layer_norm_eps', 1e-12),
    hiddenAct: String(raw.hidden_act ?? 'gelu'),
    padTokenId: num(raw, file, 'pad_token_id', family === 'roberta' ? 1 : 0),
  };
}

/** The task the checkpoint was saved for, from `architectures` (BertForSequenceClassification, …). */
export function taskFromArchitectures(architectures: string[]): ExportTask {
  const arch = architectures[0] ?? '';
  if (arch.endsWith('ForSequenceClassification')) return 'sequence-classification';
  if (arch.endsWith('ForTokenClassification')) return 'token-classification';
  if (arch.endsWith('ForQuestionAnswering')) return 'question-answering';
  return 'base';
}
