// `qrun recipe.yaml --queue redis://…`: the run or matrix as the graph of its unique steps
// (step-graph.ts), submitted as one BullMQ flow, then followed until every step job has completed
// or one has failed. Each step job's children are the steps it reads from, so BullMQ starts a step
// only once its inputs are built; a step several others read is one job (a child of its first
// reader; the others get a wait job, see jobs.ts). The reports are then made here, as a local run
// makes them, from the remote cache (run.ts).
import { FlowProducer, Queue, type FlowJob } from 'bullmq';
import type { Output } from '../engine/output.ts';
import type { PlannedRecipe } from '../engine/planning.ts';
import { errors } from '../errors.ts';
import { QueueConnections, probeQueue, type QueueAddress } from './connection.ts';
import type { JobData, StepJobData, StepJobResult } from './jobs.ts';
import { BASE_QUEUE, queueNameFor } from './queue-names.ts';
import { stepGraph, type StepGraph, type StepNode } from './step-graph.ts';

export interface QueuedRun {
  graph: StepGraph;
  /** Each node's result, by node id. */
  results: Map<string, StepJobResult>;
}

const POLL_MS = 200;
/** How long without a finished step before the submitter says which queues hold jobs nobody took (QRUN_QUEUE_QUIET_MS). */
const quietMs = () => Number(process.env.QRUN_QUEUE_QUIET_MS) || 30_000;
// Completed jobs stay a day (a run's submitter reads them as they complete), failed ones a week.
const KEEP = { removeOnComplete: { age: 24 * 3600 }, removeOnFail: { age: 7 * 24 * 3600 } };

export function stepJobId(invocation: string, node: StepNode): string {
  return `${invocation}-${node.id}`;
}

/** The flow: the run's root job, its children the steps nobody reads from, each step's children the steps it reads. */
export function buildFlow(graph: StepGraph, planned: PlannedRecipe[], invocation: string, remoteCache: string): FlowJob {
  const nodes = new Map(graph.nodes.map((n) => [n.id, n]));
  const placed = new Set<string>();
  const read = new Set(graph.nodes.flatMap((n) => n.deps));
  const stepJob = (node: StepNode): FlowJob => {
    placed.add(node.id);
    const use = node.uses[0]!;
    const data: StepJobData = { kind: 'step', invocation, recipeFile: planned[use.variant]!.recipe.file, recipeHash: planned[use.variant]!.recipe.hash, variant: use.variant, stepId: use.stepId, nodeId: node.id, remoteCache };
    return {
      name: node.stepId,
      queueName: queueNameFor(node.tags),
      data,
      opts: { jobId: stepJobId(invocation, node), failParentOnFailure: true, ...KEEP },
      children: node.deps.map((d) => childFor(nodes.get(d)!, node)),
    };
  };
  const childFor = (dep: StepNode, reader: StepNode | undefined): FlowJob => {
    if (!placed.has(dep.id)) return stepJob(dep);
    const data: JobData = { kind: 'wait', jobId: stepJobId(invocation, dep), queueName: queueNameFor(dep.tags) };
    return { name: `wait:${dep.stepId}`, queueName: BASE_QUEUE, data, opts: { jobId: `${invocation}-wait-${reader?.id.slice(0, 16) ?? 'run'}-${dep.id}`, failParentOnFailure: true, ...KEEP } };
  };
  const sinks = graph.nodes.filter((n) => !read.has(n.id));
  const root: JobData = { kind: 'run', invocation, recipeFile: planned[0]!.recipe.file };
  return { name: 'run', queueName: BASE_QUEUE, data: root, opts: { jobId: `${invocation}-run`, ...KEEP }, children: sinks.map((n) => childFor(n, undefined)) };
}

function variantsText(node: StepNode, planned: PlannedRecipe[]): string {
  if (planned.length === 1 && !planned[0]!.recipe.variant) return '';
  const labels = node.uses.map((u) => planned[u.variant]!.recipe.variant?.label ?? String(u.variant + 1));
  return node.uses.length === planned.length ? ` [all ${planned.length} variants]` : ` [${labels.join('; ')}]`;
}

export async function submitAndFollow(planned: PlannedRecipe[], address: QueueAddress, remoteCache: string, invocation: string, io: Output): Promise<QueuedRun> {
  await probeQueue(address);
  const graph = await stepGraph(planned);
  const connections = new QueueConnections(address);
  const queues = new Map<string, Queue>();
  const queueOf = (name: string) => {
    let q = queues.get(name);
    if (!q) queues.set(name, (q = new Queue(name, { connection: connections.make() })));
    return q;
  };
  const producer = new FlowProducer({ connection: connections.make() });
  try {
    await producer.add(buildFlow(graph, planned, invocation, remoteCache));
    const total = planned.reduce((n, p) => n + p.steps.length, 0);
    const tagged = [...new Set(graph.nodes.map((n) => queueNameFor(n.tags)))].sort();
    io.out(`queue: submitted ${graph.nodes.length} unique step(s) for ${total} step run(s) in ${planned.length} variant(s) to ${address.url} (queues: ${tagged.join(', ')}); waiting for workers (qrun worker --queue ${address.url})`);
    const results = new Map<string, StepJobResult>();
    const pending = new Map(graph.nodes.map((n) => [n.id, n]));
    let lastChange = Date.now();
    while (pending.size) {
      const waiting = new Set<string>();
      for (const node of [...pending.values()]) {
        const queue = queueOf(queueNameFor(node.tags));
        const id = stepJobId(invocation, node);
        const state = await queue.getJobState(id);
        if (state === 'waiting' || state === 'prioritized') waiting.add(queue.name);
        if (state === 'completed') {
          lastChange = Date.now();
          const job = await queue.getJob(id);
          const result = job!.returnvalue as StepJobResult;
          results.set(node.id, result);
          pending.delete(node.id);
          const r = result.record;
          const how = r.status === 'hit' ? `cache hit${r.cacheNote ? ` (${r.cacheNote})` : ''}` : `${r.status} in ${(r.durationMs / 1000).toFixed(1)} s`;
          io.out(`queue: [${results.size}/${graph.nodes.length}] ${node.stepId} (${node.plugin})${variantsText(node, planned)} — ${how} on ${result.worker}`);
        } else if (state === 'failed') {
          const job = await queue.getJob(id);
          throw errors.queueJobFailed(`step "${node.stepId}" (${node.plugin})${variantsText(node, planned)}`, job?.processedBy ?? 'a worker', job?.failedReason ?? 'unknown reason');
        }
      }
      // A step whose inputs are built but that no worker takes: most often no worker has its tags.
      if (waiting.size && Date.now() - lastChange > quietMs()) {
        io.out(`queue: no step finished for ${Math.round((Date.now() - lastChange) / 1000)} s; jobs wait in ${[...waiting].sort().join(', ')}: is a worker serving ${waiting.size > 1 ? 'them' : 'it'} (qrun worker --tags …)?`);
        lastChange = Date.now();
      }
      if (pending.size) await new Promise((r) => setTimeout(r, POLL_MS));
    }
    return { graph, results };
  } finally {
    await producer.close();
    await Promise.all([...queues.values()].map((q) => q.close()));
    connections.closeAll();
  }
}
