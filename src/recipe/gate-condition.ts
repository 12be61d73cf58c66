// A gate's condition (`bench.agreement: ">= 0.995"`), parsed strictly: an operator and one finite
// number, optionally a percentage ("≥ 99.5%" reads 0.995, for metrics whose unit is a ratio). A
// loose parse once took ">= 0..99" as a comparison with NaN, a gate that can never pass and says
// only "FAIL" after the whole run.

export const GATE_OPERATORS = ['>=', '>', '<=', '<', '==', '!='] as const;
export type GateOperator = (typeof GATE_OPERATORS)[number];

// Longer operators first, so ">=" is not read as ">" followed by "=".
const CONDITION = /^\s*(>=|<=|==|!=|>|<)\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*(%?)\s*$/;

export type ParsedCondition = { ok: true; op: GateOperator; value: number; percent: boolean } | { ok: false; reason: string };

export function parseGateCondition(text: unknown): ParsedCondition {
  if (typeof text !== 'string') return { ok: false, reason: `a condition is a string such as ">= 0.99", got ${JSON.stringify(text)}` };
  const m = CONDITION.exec(text);
  if (!m) {
    const op = /^\s*(>=|<=|==|!=|>|<|=>|=<|=|≥|≤)/.exec(text)?.[1];
    const known = (GATE_OPERATORS as readonly string[]).includes(op ?? '');
    const reason = !op
      ? `it does not start with an operator (${GATE_OPERATORS.join(', ')})`
      : !known
        ? `"${op}" is not an operator; use one of ${GATE_OPERATORS.join(', ')}`
        : `"${text.trim().slice(op.length).trim()}" is not a number`;
    return { ok: false, reason };
  }
  const percent = m[3] === '%';
  const n = Number(m[2]);
  if (!Number.isFinite(n)) return { ok: false, reason: `"${m[2]}" is not a finite number` };
  // Divided, then rounded to 12 significant digits: "99.5%" is 0.995, not 0.9949999999999999.
  return { ok: true, op: m[1] as GateOperator, value: percent ? Number((n / 100).toPrecision(12)) : n, percent };
}

/** Whether `actual` meets the gate. */
export function gateHolds(op: GateOperator, actual: number, value: number): boolean {
  switch (op) {
    case '>=':
      return actual >= value;
    case '>':
      return actual > value;
    case '<=':
      return actual <= value;
    case '<':
      return actual < value;
    case '==':
      return actual === value;
    case '!=':
      return actual !== value;
  }
}
