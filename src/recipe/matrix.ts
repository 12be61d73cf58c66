// `matrix:` (as in GitHub Actions): every combination of the axes' values is one variant of the
// recipe, with `${{ matrix.NAME }}` replaced in every string. A string that is only the expression
// takes the value's type (a number stays a number). Variants share every cached step whose options
// and inputs do not depend on the matrix.

type Scalar = string | number | boolean;

export interface MatrixVariant {
  label: string;
  values: Record<string, Scalar>;
  raw: Record<string, unknown>;
}

const EXPR = /\$\{\{\s*matrix\.([A-Za-z_][A-Za-z0-9_-]*)\s*\}\}/g;
const WHOLE = /^\$\{\{\s*matrix\.([A-Za-z_][A-Za-z0-9_-]*)\s*\}\}$/;

export function cartesian(axes: Record<string, Scalar[]>): Record<string, Scalar>[] {
  let combos: Record<string, Scalar>[] = [{}];
  for (const [name, values] of Object.entries(axes)) {
    combos = combos.flatMap((c) => values.map((v) => ({ ...c, [name]: v })));
  }
  return combos;
}

type SubstError = { code: string; message: string; path: (string | number)[]; hint?: string };

function substitute(value: unknown, values: Record<string, Scalar>, path: (string | number)[], errors: SubstError[]): unknown {
  if (typeof value === 'string') {
    const whole = WHOLE.exec(value);
    if (whole) {
      const v = values[whole[1]!];
      if (v === undefined) errors.push(unknownVar(whole[1]!, values, path));
      return v ?? value;
    }
    return value.replace(EXPR, (m, name: string) => {
      const v = values[name];
      if (v === undefined) errors.push(unknownVar(name, values, path));
      return v === undefined ? m : String(v);
    });
  }
  if (Array.isArray(value)) return value.map((x, i) => substitute(x, values, [...path, i], errors));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v, values, [...path, k], errors)]));
  }
  return value;
}

function unknownVar(name: string, values: Record<string, Scalar>, path: (string | number)[]): SubstError {
  return { code: 'RECIPE_MATRIX', message: `\${{ matrix.${name} }} names no matrix axis`, path, hint: `axes: ${Object.keys(values).join(', ')}` };
}

export function expandMatrix(raw: Record<string, unknown>, axes: Record<string, Scalar[]>): { ok: true; variants: MatrixVariant[] } | { ok: false; errors: SubstError[] } {
  const { matrix: _matrix, ...rest } = raw;
  void _matrix;
  const errors: SubstError[] = [];
  const variants = cartesian(axes).map((values) => {
    const label = Object.entries(values)
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    return { label, values, raw: substitute(rest, values, [], errors) as Record<string, unknown> };
  });
  if (errors.length) {
    const seen = new Set<string>();
    return { ok: false, errors: errors.filter((e) => !seen.has(e.message + e.path.join('.')) && seen.add(e.message + e.path.join('.'))) };
  }
  return { ok: true, variants };
}
