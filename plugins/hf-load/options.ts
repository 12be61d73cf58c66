import { TASK_NAMES, type TaskName } from '../../src/tasks/task.ts';

export interface HfLoadOptions {
  /** Model directory, overriding the recipe's `model:` (relative to the recipe). */
  model?: string;
  /** ONNX file inside the model directory; default: onnx/model.onnx, then model.onnx. */
  onnx?: string;
  /** Which of the recipe's `data:` sets to tokenize; default all. */
  data?: string[];
  /** Token limit per sample; default from tokenizer.json's truncation, else the model's max. */
  maxLength?: number;
  /** What the model is for; default: the recipe's `task:`, else detected (src/tasks/task.ts). */
  task?: TaskName;
}

export const hfLoadOptionsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    model: { type: 'string', minLength: 1, description: "Model directory (config.json, tokenizer.json, an ONNX file), relative to the recipe; overrides the recipe's `model:`.", examples: ['../models/bert-langid'] },
    onnx: { type: 'string', minLength: 1, description: 'The ONNX file inside the model directory; default: onnx/model.onnx, else model.onnx.', examples: ['onnx/model_fp32.onnx'] },
    data: { type: 'array', items: { type: 'string' }, uniqueItems: true, description: "Which of the recipe's `data:` sets to tokenize; default: all of them.", examples: [['calibration', 'evaluation']] },
    task: {
      enum: [...TASK_NAMES],
      description: "What the model is for, which decides how data sets are read and what later steps measure and serve; default: the recipe's `task:`, else a sentence-transformers folder (embedding) or config.json's architectures. Recorded in the hf output (task.json).",
      examples: ['embedding'],
    },
    maxLength: { type: 'integer', minimum: 2, maximum: 65536, description: "Tokens per sample (longer texts are truncated); default: tokenizer.json's truncation, else the model's maximum.", examples: [128] },
  },
};
