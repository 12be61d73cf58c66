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
import { isConnectionError, QueueConnections, probeQueue, type QueueAddress } from './connection.ts';
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
/** How long the submitter waits for a Redis that went away to answer again before it gives up (QRUN_QUEUE_DOWN_MS). */
export const downLimitMs = () => Number(process.env.QRUN_QUEUE_DOWN_MS) || 60_000;
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
  const limit = downLimitMs();
  // Redis gone mid-run: said once, waited for (ioredis reconnects and BullMQ's commands wait for it),
  // and given up on with QUEUE_CONNECTION_LOST after `limit`; back in time, the run goes on.
  // BullMQ prints an 'error' nobody listens to; connection errors are told once as an outage (below).
  const onError = (e: Error) => {
    if (!isConnectionError(e)) io.err(`queue: ${address.url}: ${e.message}`);
  };
  const connections = new QueueConnections(address, {
    lost: (why) => io.err(`queue: lost the connection to ${address.url} (${why}); reconnecting, for at most ${Math.round(limit / 1000)} s (QRUN_QUEUE_DOWN_MS)`),
    back: (ms) => io.err(`queue: reconnected to ${address.url} after ${(ms / 1000).toFixed(1)} s`),
  });
  const queues = new Map<string, Queue>();
  const queueOf = (name: string) => {
    let q = queues.get(name);
    if (!q) {
      queues.set(name, (q = new Queue(name, { connection: connections.make() })));
      q.on('error', onError);
    }
    return q;
  };
  const producer = new FlowProducer({ connection: connections.make() });
  producer.on('error', onError);
  try {
    await connections.bounded(producer.add(buildFlow(graph, planned, invocation, remoteCache)), limit);
    const total = planned.reduce((n, p) => n + p.steps.length, 0);
    const tagged = [...new Set(graph.nodes.map((n) => queueNameFor(n.tags)))].sort();
    io.out(`queue: submitted ${graph.nodes.length} unique step(s) for ${total} step run(s) in ${planned.length} variant(s) to ${address.url} (queues: ${tagged.join(', ')}); waiting for workers (qrun worker --queue ${address.url})`);
    const results = new Map<string, StepJobResult>();
    const pending = new Map(graph.nodes.map((n) => [n.id, n]));
    let lastChange = Date.now();
    // One look at every pending step job; each Redis call waits through a reconnect, the whole look at most `limit`.
    const look = async (waiting: Set<string>) => {
      for (const node of [...pending.values()]) {
        const queue = queueOf(queueNameFor(node.tags));
        const id = stepJobId(invocation, node);
        const state = await queue.getJobState(id);
        if (state === 'waiting' || state === 'prioritized') waiting.add(queue.name);
        if (state === 'completed') {
          lastChange = Date.now();
          const job = await queue.getJob(id);
          // Gone between the two calls: Redis restarted without its data right then.
          if (!job) throw errors.queueJobsLost(address.url, `step "${node.stepId}" (${node.plugin})${variantsText(node, planned)}`);
          const result = job.returnvalue as StepJobResult;
          results.set(node.id, result);
          pending.delete(node.id);
          const r = result.record;
          const how = r.status === 'hit' ? `cache hit${r.cacheNote ? ` (${r.cacheNote})` : ''}` : `${r.status} in ${(r.durationMs / 1000).toFixed(1)} s`;
          io.out(`queue: [${results.size}/${graph.nodes.length}] ${node.stepId} (${node.plugin})${variantsText(node, planned)} — ${how} on ${result.worker}`);
        } else if (state === 'failed') {
          const job = await queue.getJob(id);
          throw errors.queueJobFailed(`step "${node.stepId}" (${node.plugin})${variantsText(node, planned)}`, job?.processedBy ?? 'a worker', job?.failedReason ?? 'unknown reason');
        } else if (state === 'unknown') {
          // The job was added before this look: Redis lost it (restarted without its data, or flushed).
          throw errors.queueJobsLost(address.url, `step "${node.stepId}" (${node.plugin})${variantsText(node, planned)}`);
        }
      }
    };
    while (pending.size) {
      const waiting = new Set<string>();
      await connections.bounded(look(waiting), limit);
      // A step whose inputs are built but that no worker takes: most often no worker has its tags.
      if (waiting.size && Date.now() - lastChange > quietMs()) {
        io.out(`queue: no step finished for ${Math.round((Date.now() - lastChange) / 1000)} s; jobs wait in ${[...waiting].sort().join(', ')}: is a worker serving ${waiting.size > 1 ? 'them' : 'it'} (qrun worker --tags …)?`);
        lastChange = Date.now();
      }
      if (pending.size) await new Promise((r) => setTimeout(r, POLL_MS));
    }
    return { graph, results };
  } finally {
    // Closing waits on Redis too: bounded, then the connections are cut whatever state they are in.
    await connections.bounded(Promise.all([producer.close(), ...[...queues.values()].map((q) => q.close())]), 2000).catch(() => undefined);
    connections.closeAll();
  }
}
