// ModelConfig → config.pbtxt, protobuf text format in the layout of Triton's documentation. Fields
// are written in one fixed order with two-space indents and a final newline, and map entries sorted
// by key, so the same config always gives the same bytes.
import type { EnsembleStep, ModelConfig, TensorConfig } from './model-config.ts';

/** One text-format field: a literal, a list of literals, a message, or a list of messages. */
type Field =
  | { name: string; literal: string }
  | { name: string; list: string[] }
  | { name: string; message: Field[] }
  | { name: string; messages: Field[][] };

/**
 * A text-format string literal. Protobuf text format takes C-style escapes; everything printable,
 * UTF-8 included, is written as is, and other control characters as octal escapes.
 */
export function quote(s: string): string {
  const escaped = s.replace(/[\\"\n\r\t\x00-\x1f\x7f]/g, (c) => {
    const named: Record<string, string> = { '\\': '\\\\', '"': '\\"', '\n': '\\n', '\r': '\\r', '\t': '\\t' };
    return named[c] ?? `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`;
  });
  return `"${escaped}"`;
}

function render(fields: Field[], indent: string, lines: string[]): void {
  const inner = `${indent}  `;
  for (const f of fields) {
    if ('literal' in f) lines.push(`${indent}${f.name}: ${f.literal}`);
    else if ('list' in f) lines.push(`${indent}${f.name}: ${f.list.length ? `[ ${f.list.join(', ')} ]` : '[ ]'}`);
    else if ('message' in f) {
      lines.push(`${indent}${f.name} {`);
      render(f.message, inner, lines);
      lines.push(`${indent}}`);
    } else {
      lines.push(`${indent}${f.name} [`);
      f.messages.forEach((m, i) => {
        lines.push(`${inner}{`);
        render(m, `${inner}  `, lines);
        lines.push(`${inner}}${i < f.messages.length - 1 ? ',' : ''}`);
      });
      lines.push(`${indent}]`);
    }
  }
}

function tensorFields(t: TensorConfig): Field[] {
  const fields: Field[] = [
    { name: 'name', literal: quote(t.name) },
    { name: 'data_type', literal: t.dataType },
    { name: 'dims', list: t.dims.map(String) },
  ];
  if (t.reshape) fields.push({ name: 'reshape', message: [{ name: 'shape', list: t.reshape.shape.map(String) }] });
  if (t.labelFilename !== undefined) fields.push({ name: 'label_filename', literal: quote(t.labelFilename) });
  return fields;
}

/** A map<string, string> field: one `name { key value }` entry per key, sorted. */
function stringMap(name: string, map: Record<string, string>): Field[] {
  return Object.keys(map)
    .sort()
    .map((k): Field => ({ name, message: [{ name: 'key', literal: quote(k) }, { name: 'value', literal: quote(map[k]!) }] }));
}

function stepFields(s: EnsembleStep): Field[] {
  return [
    { name: 'model_name', literal: quote(s.modelName) },
    { name: 'model_version', literal: String(s.modelVersion) },
    ...stringMap('input_map', s.inputMap),
    ...stringMap('output_map', s.outputMap),
  ];
}

function configFields(c: ModelConfig): Field[] {
  const fields: Field[] = [{ name: 'name', literal: quote(c.name) }];
  if (c.platform !== undefined) fields.push({ name: 'platform', literal: quote(c.platform) });
  if (c.backend !== undefined) fields.push({ name: 'backend', literal: quote(c.backend) });
  fields.push({ name: 'max_batch_size', literal: String(c.maxBatchSize) });
  fields.push({ name: 'input', messages: c.input.map(tensorFields) });
  fields.push({ name: 'output', messages: c.output.map(tensorFields) });
  if (c.optimization) {
    const optimization: Field[] = [];
    if (c.optimization.graphLevel !== undefined) optimization.push({ name: 'graph', message: [{ name: 'level', literal: String(c.optimization.graphLevel) }] });
    if (c.optimization.gpuExecutionAccelerator) {
      const accelerators = c.optimization.gpuExecutionAccelerator.map((a): Field[] => [
        { name: 'name', literal: quote(a.name) },
        // A map<string, string> is written as repeated { key value } entries.
        ...stringMap('parameters', a.parameters),
      ]);
      optimization.push({ name: 'execution_accelerators', message: [{ name: 'gpu_execution_accelerator', messages: accelerators }] });
    }
    fields.push({ name: 'optimization', message: optimization });
  }
  if (c.dynamicBatching) {
    const batching: Field[] = [];
    if (c.dynamicBatching.preferredBatchSize.length) batching.push({ name: 'preferred_batch_size', list: c.dynamicBatching.preferredBatchSize.map(String) });
    batching.push({ name: 'max_queue_delay_microseconds', literal: String(c.dynamicBatching.maxQueueDelayMicroseconds) });
    fields.push({ name: 'dynamic_batching', message: batching });
  }
  if (c.ensembleScheduling) fields.push({ name: 'ensemble_scheduling', message: [{ name: 'step', messages: c.ensembleScheduling.step.map(stepFields) }] });
  if (c.instanceGroup.length) {
    fields.push({ name: 'instance_group', messages: c.instanceGroup.map((g) => [{ name: 'count', literal: String(g.count) }, { name: 'kind', literal: g.kind }]) });
  }
  // map<string, ModelParameter>: the value is a message with its string_value.
  for (const k of Object.keys(c.parameters ?? {}).sort()) {
    fields.push({ name: 'parameters', message: [{ name: 'key', literal: quote(k) }, { name: 'value', message: [{ name: 'string_value', literal: quote(c.parameters![k]!) }] }] });
  }
  return fields;
}

export function formatModelConfig(config: ModelConfig): string {
  const lines: string[] = [];
  render(configFields(config), '', lines);
  return `${lines.join('\n')}\n`;
}
