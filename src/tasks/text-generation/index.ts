// Text generation (decoders with a language-model head: GPT2LMHeadModel, LlamaForCausalLM,
// Qwen2ForCausalLM, MistralForCausalLM). onnx.export builds one graph that serves prefill and decode
// with past_key_values / present (src/export/decoder/, the layout of /work/notes/decoder-contract.md,
// Optimum's and onnxruntime-genai's); hf.load keeps each evaluation text's ids (data.ts); bench
// decodes greedily with the KV cache from the texts' first tokens and compares the quantized model
// with FP32: perplexity on the held-out texts, agreement of the generated tokens, time to first
// token and tokens/s at batch 1 and 4 (evaluate.ts). Triton serves TEXT → GENERATED_TEXT through a
// Python-backend model that runs the decode loop against the ONNX model (plugins/triton/text-generation.ts).
import type { TaskDefinition } from '../task.ts';
import { tokenizeGenerationData } from './data.ts';
import { evaluateTextGeneration } from './evaluate.ts';

export const textGenerationTask: TaskDefinition = {
  name: 'text-generation',
  summary: 'text generation: greedy decoding with the KV cache; perplexity, agreement of generated tokens with FP32, time to first token, tokens/s',
  readData: tokenizeGenerationData,
  evaluate: evaluateTextGeneration,
};
