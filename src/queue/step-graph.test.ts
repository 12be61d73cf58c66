// A matrix as the graph of its unique steps, and that graph as one BullMQ flow: shared steps are one
// node, each node is one step job, and a step read by several others has wait jobs for the rest.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FlowJob } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../tests/helpers/cli.ts';
import { loadAndPlanAll } from '../engine/planning.ts';
import { stepGraph } from './step-graph.ts';
import { buildFlow } from './submit.ts';

function recipe(): string {
  const dir = tempDir('qrun-graph-');
  const file = join(dir, 'recipe.yaml');
  writeFileSync(
    file,
    `name: graph
matrix:
  level: [1, 2]
  flavor: [a, b]
steps:
  - id: base
    uses: command
    with: { run: [sh, -c, 'echo base > {outputs.out}'], outputs: { out: { path: b.txt } }, versionArgs: [] }
  - id: mid
    uses: command
    with:
      run: [sh, -c, 'cat {inputs.src} > {outputs.out}; echo \${{ matrix.level }} >> {outputs.out}']
      inputs: { src: file }
      outputs: { out: { path: m.txt } }
      versionArgs: []
  - id: leaf
    uses: command
    tags: [gpu]
    inputs: { base: base.out, mid: mid.out }
    with:
      run: [sh, -c, 'cat {inputs.base} {inputs.mid} > {outputs.out}; echo \${{ matrix.flavor }} >> {outputs.out}']
      inputs: { base: file, mid: file }
      outputs: { out: { path: l.txt } }
      versionArgs: []
`,
  );
  return file;
}

const walk = (job: FlowJob): FlowJob[] => [job, ...(job.children ?? []).flatMap(walk)];

describe('step graph', () => {
  it('a four-variant matrix is 7 unique steps: base once, mid once per level, leaf once per variant', async () => {
    const planned = await loadAndPlanAll(recipe());
    const graph = await stepGraph(planned);
    expect(graph.nodes.map((n) => n.stepId).sort()).toEqual(['base', 'leaf', 'leaf', 'leaf', 'leaf', 'mid', 'mid']);
    const base = graph.nodes.find((n) => n.stepId === 'base')!;
    expect(base.uses.length).toBe(4);
    expect(new Set(graph.variants.map((v) => v.get('base')))).toEqual(new Set([base.id]));
    expect(graph.variants[0]!.get('mid')).toBe(graph.variants[1]!.get('mid'));
    expect(graph.variants[0]!.get('mid')).not.toBe(graph.variants[2]!.get('mid'));
    const leaf = graph.nodes.find((n) => n.stepId === 'leaf')!;
    expect(leaf.deps.sort()).toEqual([base.id, graph.variants[leaf.uses[0]!.variant]!.get('mid')].sort());
    expect(leaf.tags).toEqual(['gpu']);
  });

  it('the flow has one step job per unique step, in the queue of its tags, and a wait job for every other reader', async () => {
    const planned = await loadAndPlanAll(recipe());
    const graph = await stepGraph(planned);
    const jobs = walk(buildFlow(graph, planned, 'inv', 's3://b/p'));
    const steps = jobs.filter((j) => (j.data as { kind: string }).kind === 'step');
    expect(steps.length).toBe(7);
    expect(new Set(steps.map((j) => j.opts!.jobId)).size).toBe(7);
    expect(steps.filter((j) => j.name === 'leaf').every((j) => j.queueName === 'qrun-gpu')).toBe(true);
    // 10 edges (base read by 2 mids and 4 leaves, each mid by 2 leaves); the 4 leaves hang from the
    // run's root, and 3 readers hold base's and the mids' step jobs: the 7 other edges are wait jobs.
    const waits = jobs.filter((j) => (j.data as { kind: string }).kind === 'wait');
    expect(waits.length).toBe(10 - 3);
    expect(new Set(waits.map((j) => j.opts!.jobId)).size).toBe(waits.length);
    for (const w of waits) expect(steps.map((j) => j.opts!.jobId)).toContain((w.data as { jobId: string }).jobId);
  });
});
