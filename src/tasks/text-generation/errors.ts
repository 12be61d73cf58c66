// Failures of the text-generation task, in the form of src/errors.ts (a QrunError with a stable code
// and a hint), kept beside the task.
import { QrunError, EXIT } from '../../errors.ts';

const make = (code: string, message: string, hint: string, exitCode: number = EXIT.stepFailed) => new QrunError([{ code, message, hint }], exitCode);

export const textGenerationErrors = {
  /** A model bench was told is a decoder whose graph has no KV-cache inputs or outputs. */
  notADecoder: (which: string, inputs: readonly string[], outputs: readonly string[], missingInputs: string[], missingOutputs: string[]) =>
    make(
      'DECODER_GRAPH',
      `${which} is not a decoder graph with a KV cache: ${[...missingInputs.map((n) => `no input ${n}`), ...missingOutputs.map((n) => `no output ${n}`)].join(', ')} (inputs: ${inputs.join(', ')}; outputs: ${outputs.join(', ')})`,
      'export it with an onnx.export step after hf.load (one graph with past_key_values.{i}.key/.value inputs and present.{i}.key/.value outputs, as Optimum\'s text-generation-with-past export writes)',
    ),
  cacheShape: (which: string, input: string, shape: readonly (number | string)[]) =>
    make(
      'DECODER_GRAPH',
      `${which}: input ${input} has shape [${shape.join(', ')}]; the cache needs [batch, kv_heads, past_sequence, head_dim] with kv_heads and head_dim fixed`,
      'export it with onnx.export, which writes the cache dims from config.json',
    ),
  /** The evaluation data was not tokenized for generation (hf.load ran with another task). */
  noTexts: (name: string) =>
    make(
      'GENERATION_DATA',
      `data set "${name}" was not read as text for generation (hf.load recorded another task)`,
      'give the recipe `task: text-generation`, or use a checkpoint whose config.json names a *ForCausalLM / *LMHeadModel architecture',
    ),
  /** A prompt and its continuation need more positions than the model has. */
  beyondPositions: (name: string, option: string, promptTokens: number, tokens: number, limit: number) =>
    make(
      'GENERATION_SETTINGS',
      `bench's generation.promptTokens (${promptTokens}) + generation.${option} (${tokens}) − 1 = ${promptTokens + tokens - 1} positions, more than the model's ${limit} (config.json n_positions / max_position_embeddings, the limit hf.load cut data set "${name}" to)`,
      `lower generation.promptTokens or generation.${option} so that promptTokens + ${option} − 1 <= ${limit}`,
    ),
  /** The tokenizer gives an id the model's embedding table has no row for. */
  idBeyondVocab: (file: string, line: number, id: number, vocab: number, config: string) =>
    new QrunError(
      [
        {
          code: 'GENERATION_DATA',
          message: `the tokenizer encodes this text with id ${id}, but ${config} has vocab_size ${vocab} (ids 0–${vocab - 1}): the tokenizer and the model do not match`,
          hint: 'give the model folder the tokenizer.json it was trained with (or fix config.json\'s vocab_size)',
          location: { file, line, col: 1 },
        },
      ],
      EXIT.stepFailed,
    ),
  /** No evaluation text is long enough for a prompt. */
  promptsTooShort: (name: string, promptTokens: number, longest: number) =>
    make(
      'GENERATION_DATA',
      `data set "${name}": no text has more than ${promptTokens} tokens (the longest has ${longest}), so none gives a prompt`,
      'lower bench\'s generation.promptTokens, or add longer texts',
    ),
};
