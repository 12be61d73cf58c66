// The metric declarations: every built-in plugin has one, the report's table of them matches the
// plugins, numbers have a unit and a direction, and the helpers that read declarations do as
// documented. Whether each plugin returns only what it declares is checked on a real run's
// report.json in tests/e2e/partial-runs.test.ts, and by the plugin tests that run a plugin.
import { describe, expect, it } from 'vitest';
import { BUILTIN_METRICS, builtinMetricCatalog } from './builtin-metrics.ts';
import { BUILTIN_PLUGINS } from './builtin-plugins.ts';
import { isNumberMetric, lookupMetric, metricsOf, numericMetricPaths, stepWithRole, undeclaredMetrics, valueWithRole } from './metrics.ts';
import type { MetricRole, MetricsDeclaration, MetricSpec } from './plugin.ts';

function* walk(decl: MetricsDeclaration, prefix = ''): Generator<[string, MetricSpec]> {
  for (const [name, spec] of Object.entries(decl)) {
    yield [prefix + name, spec];
    if (!isNumberMetric(spec) && spec.fields) yield* walk(spec.fields, `${prefix}${name}.`);
  }
}

describe('built-in metric declarations', () => {
  it('every built-in plugin declares its metrics, and BUILTIN_METRICS (read without loading plugins) is the same table', () => {
    expect(Object.keys(BUILTIN_METRICS).sort()).toEqual(BUILTIN_PLUGINS.map((p) => p.name).sort());
    for (const p of BUILTIN_PLUGINS) {
      expect(p.metrics, p.name).toBeDefined();
      expect(metricsOf(p, {}), p.name).toBe(BUILTIN_METRICS[p.name]);
    }
  });

  it('every metric has a description, and every number a unit and a better direction', () => {
    for (const [plugin, decl] of Object.entries(BUILTIN_METRICS)) {
      for (const [name, spec] of walk(decl)) {
        expect(spec.description.length, `${plugin}.${name}`).toBeGreaterThan(3);
        if (isNumberMetric(spec)) expect(['higher', 'lower', 'none'], `${plugin}.${name}`).toContain(spec.better);
        else expect(['text', 'flag', 'list', 'table', 'object'], `${plugin}.${name}`).toContain(spec.type);
      }
    }
  });

  it('each role the reports read is declared once per plugin, and agreement and the latency table by the bench', () => {
    for (const [plugin, decl] of Object.entries(BUILTIN_METRICS)) {
      const roles = Object.values(decl).flatMap((s) => (s.role ? [s.role] : []));
      expect(new Set(roles).size, plugin).toBe(roles.length);
    }
    const roleOf = (role: MetricRole) => Object.entries(BUILTIN_METRICS).filter(([, d]) => Object.values(d).some((s) => s.role === role)).map(([p]) => p);
    expect(roleOf('agreement')).toEqual(['bench']);
    expect(roleOf('latency')).toEqual(['bench']);
    expect(roleOf('calibration-method')).toEqual(['calibrate', 'torch.calibrate']);
  });
});

const DECL: MetricsDeclaration = {
  agreement: { unit: 'ratio', better: 'higher', description: 'agreement', role: 'agreement' },
  name: { type: 'text', description: 'a name' },
  sizes: { type: 'object', description: 'sizes', fields: { int8: { unit: 'bytes', better: 'lower', description: 'int8 bytes' } } },
  rows: { type: 'table', description: 'rows', fields: { ratio: { unit: '×', better: 'lower', description: 'a ratio' } } },
  ops: { type: 'object', description: 'per op type' },
};

describe('lookupMetric and numericMetricPaths', () => {
  it('follows objects by field and tables by row index and field; keys of undeclared objects are data', () => {
    expect(lookupMetric(DECL, ['agreement']).found).toBe('declared');
    expect(lookupMetric(DECL, ['sizes', 'int8']).found).toBe('declared');
    expect(lookupMetric(DECL, ['rows', '3', 'ratio']).found).toBe('declared');
    expect(lookupMetric(DECL, ['ops', 'MatMul']).found).toBe('undeclared-keys');
    expect(lookupMetric(DECL, ['sizes', 'int9'])).toEqual({ found: 'none', at: 1, candidates: ['int8'] });
    expect(lookupMetric(DECL, ['rows', 'ratio'])).toEqual({ found: 'none', at: 1, candidates: ['<row index>'] });
    expect(lookupMetric(DECL, ['name', 'x'])).toEqual({ found: 'none', at: 1, candidates: [] });
    expect(lookupMetric(DECL, ['agreemnt'])).toEqual({ found: 'none', at: 0, candidates: ['agreement', 'name', 'sizes', 'rows', 'ops'] });
  });

  it('lists every number a gate can name', () => {
    expect(numericMetricPaths(DECL)).toEqual(['agreement', 'sizes.int8', 'rows.<row>.ratio']);
  });
});

describe('undeclaredMetrics', () => {
  it('names what a plugin returned but did not declare, down declared fields and table rows', () => {
    expect(undeclaredMetrics(DECL, { agreement: 1, name: 'x', sizes: { int8: 3 }, rows: [{ ratio: 1 }], ops: { Foo: 1 } })).toEqual([]);
    expect(undeclaredMetrics(DECL, { agreemnt: 1, sizes: { int8: 3, fp32: 4 }, rows: [{ ratio: 1, extra: 2 }, { ratio: 1, extra: 2 }] })).toEqual(['agreemnt', 'sizes.fp32', 'rows.extra']);
  });
});

describe('roles', () => {
  const steps = [
    { plugin: 'sensitivity', status: 'ran', metrics: { agreement: 0.9 } },
    { plugin: 'bench', status: 'failed', metrics: {} },
    { plugin: 'bench', status: 'hit', metrics: { agreement: 0.995 } },
  ];

  it('find the first finished step whose plugin declares the role, whatever its name (sensitivity has an agreement but not the role)', () => {
    expect(stepWithRole(steps, builtinMetricCatalog, 'agreement')?.step).toBe(steps[1]);
    expect(stepWithRole(steps, builtinMetricCatalog, 'agreement', { finished: true })?.step).toBe(steps[2]);
    expect(valueWithRole(steps, builtinMetricCatalog, 'agreement')).toBe(0.995);
    const renamed = (p: string) => (p === 'my-bench' ? BUILTIN_METRICS.bench : undefined);
    expect(valueWithRole([{ plugin: 'my-bench', status: 'ran', metrics: { agreement: 0.5 } }], renamed, 'agreement')).toBe(0.5);
    expect(valueWithRole(steps, () => undefined, 'agreement')).toBeUndefined();
  });
});
