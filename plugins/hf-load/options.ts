export interface HfLoadOptions {
  /** Model directory, overriding the recipe's `model:` (relative to the recipe). */
  model?: string;
  /** ONNX file inside the model directory; default: onnx/model.onnx, then model.onnx. */
  onnx?: string;
  /** Which of the recipe's `data:` sets to tokenize; default all. */
  data?: string[];
  /** Token limit per sample; default from tokenizer.json's truncation, else the model's max. */
  maxLength?: number;
}

export const hfLoadOptionsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    model: { type: 'string', minLength: 1 },
    onnx: { type: 'string', minLength: 1 },
    data: { type: 'array', items: { type: 'string' }, uniqueItems: true },
    maxLength: { type: 'integer', minimum: 2, maximum: 65536 },
  },
};
