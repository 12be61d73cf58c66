// Which graph output holds the class logits. A model exported with several outputs need not put
// the logits first (a `last_hidden_state, logits` export does not), and scoring a hidden state as if
// it were logits reports a working model at 0 % accuracy. So the output is chosen by name and shape,
// the choice is reported, and qrun refuses to guess between several candidates or none.
import { errors } from '../errors.ts';
import { toNumber, type ModelProto, type ValueInfoProto } from '../onnx/types.ts';

export interface LogitsOutput {
  name: string;
  /** Why this output: for the step's metrics and log. */
  reason: string;
}

/** An output's dims as the graph declares them: numbers, symbolic names, or '?' where absent. */
export function outputDims(o: ValueInfoProto): (number | string)[] | undefined {
  const dims = o.type?.tensorType?.shape?.dim;
  if (!dims) return undefined;
  // A decoded message reads an unset dim_value as its default 0 (protobufjs puts defaults on the
  // prototype), so a dim is a number only where dim_value is really there and dim_param is not.
  return dims.map((d) => (d.dimParam ? d.dimParam : Object.hasOwn(d, 'dimValue') && d.dimValue !== undefined && d.dimValue !== null ? toNumber(d.dimValue) : '?'));
}

function describeOutput(o: ValueInfoProto): string {
  const dims = outputDims(o);
  return `${o.name} [${dims ? dims.join(', ') : 'shape unknown'}]`;
}

/**
 * The output holding [batch, numClasses] logits, in this order: the `explicit` name (the step's
 * `output` option); the model's only output; the output named `logits`; the one output whose name
 * contains "logits"; the one rank-2 output whose last dimension is numClasses. Name matches must
 * not contradict the shape: rank 2, and the class dimension numClasses where both are known.
 * Otherwise a LOGITS_OUTPUT_UNCLEAR error lists the outputs with their shapes.
 */
export function selectLogitsOutput(model: ModelProto, numClasses: number | undefined, explicit: string | undefined, what = 'the model'): LogitsOutput {
  const outputs = model.graph.output;
  const listing = () => outputs.map(describeOutput).join(', ');
  const hint = (names: string[]) =>
    `set the step's \`output:\` option to the output that holds the logits (${names.map((n) => `output: ${n}`).join(', or ')})`;
  if (explicit !== undefined) {
    if (!outputs.some((o) => o.name === explicit)) {
      throw errors.logitsOutputUnclear(`output "${explicit}" (the \`output\` option) is not an output of ${what}; its outputs: ${listing()}`, hint(outputs.map((o) => o.name)));
    }
    return { name: explicit, reason: 'the `output` option' };
  }
  if (outputs.length === 1) return { name: outputs[0]!.name, reason: "the model's only output" };

  // Could this output be [batch, numClasses] logits? Unknown shapes and symbolic dims do not rule out.
  const fits = (o: ValueInfoProto, strict = false) => {
    const dims = outputDims(o);
    if (!dims) return !strict;
    if (dims.length !== 2) return false;
    const c = dims[1]!;
    if (typeof c !== 'number') return !strict;
    return numClasses === undefined ? !strict : c === numClasses;
  };
  const exact = outputs.filter((o) => o.name === 'logits' && fits(o));
  if (exact.length === 1) return { name: exact[0]!.name, reason: 'named "logits"' };
  const named = outputs.filter((o) => /logits/i.test(o.name) && fits(o));
  if (named.length === 1) return { name: named[0]!.name, reason: 'the only output whose name contains "logits"' };
  const shaped = numClasses === undefined ? [] : outputs.filter((o) => fits(o, true));
  if (named.length === 0 && shaped.length === 1) return { name: shaped[0]!.name, reason: `the only output of shape [batch, ${numClasses}]` };

  const candidates = named.length > 1 ? named : shaped.length > 1 ? shaped : [];
  const want = `[batch, ${numClasses ?? 'classes'}]${numClasses !== undefined ? ` (${numClasses} = id2label's size)` : ''}`;
  throw errors.logitsOutputUnclear(
    candidates.length > 1
      ? `cannot tell which output of ${what} holds the logits: ${candidates.map((o) => o.name).join(', ')} all could; its outputs: ${listing()}`
      : `no output of ${what} looks like logits ${want}; its outputs: ${listing()}`,
    hint((candidates.length > 1 ? candidates : outputs).map((o) => o.name)),
  );
}
