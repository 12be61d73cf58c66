// `qrun worker`: takes step jobs from the queues its tags allow and runs each with the same
// executor as a local run, on its own local cache, with the remote cache in front of it (strict:
// a worker cannot hand its results on without it). For a step it first takes the steps the step
// reads from out of the remote cache (built by whichever worker ran them), then the step itself: a
// remote hit when another run already built it, else a build whose entry is uploaded, files first
// and manifest last, before the job completes. A worker killed mid-step uploads nothing: BullMQ sees
// its job's lock expire and gives the job to another worker (stalled-job handling).
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { DelayedError, Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import { RemoteCache } from '../cache/remote-cache.ts';
import { CacheStore } from '../cache/store.ts';
import { Executor } from '../engine/executor.ts';
import type { Output } from '../engine/output.ts';
import { loadAndPlanAll, type PlannedRecipe } from '../engine/planning.ts';
import { errors, QrunError } from '../errors.ts';
import type { StepEvent } from '../engine/plugin.ts';
import { isConnectionError, QueueConnections, type QueueAddress } from './connection.ts';
import type { JobData, StepJobData, StepJobResult, WaitJobData } from './jobs.ts';
import { queuesForWorker } from './queue-names.ts';
import { ancestorsOf } from './step-graph.ts';

export interface WorkerOptions {
  address: QueueAddress;
  concurrency: number;
  tags: string[];
  /** This worker's local cache (default: $QRUN_CACHE, else ~/.cache/qrun/worker). */
  cache?: string;
  name?: string;
}

/** How long a job's lock lasts without a heartbeat before BullMQ hands the job to another worker. */
export function lockDurationMs(): number {
  return Number(process.env.QRUN_QUEUE_LOCK_MS) || 60_000;
}

/** How often a wait job looks at the step it waits for. */
const WAIT_POLL_MS = 250;

export function defaultWorkerCache(): string {
  return resolve(process.env.QRUN_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(process.env.HOME ?? '.', '.cache'), 'qrun', 'worker'));
}

export class QrunWorker {
  readonly name: string;
  readonly queues: string[];
  private readonly connections: QueueConnections;
  private readonly workers: Worker[] = [];
  private readonly lookups = new Map<string, Queue>();
  private readonly plans = new Map<string, Promise<PlannedRecipe[]>>();
  private readonly remotes = new Map<string, RemoteCache>();
  private store?: Promise<CacheStore>;
  /** Jobs being processed here, and those processed whose completion Redis has not confirmed yet. */
  private running = 0;
  private readonly unreported = new Set<string>();

  constructor(
    readonly options: WorkerOptions,
    private readonly io: Output,
  ) {
    this.name = options.name ?? `${hostname()}-${process.pid}`;
    this.queues = queuesForWorker(options.tags);
    // Redis gone: said once, and the worker waits for it (ioredis reconnects, BullMQ's calls wait);
    // the step it is running goes on, and its result is reported once Redis is back.
    this.connections = new QueueConnections(options.address, {
      lost: (why) => this.io.err(`qrun worker ${this.name}: warning QUEUE_CONNECTION_LOST: lost the connection to ${options.address.url} (${why}); reconnecting until it is back (steps being run go on)`),
      back: (ms) => this.io.err(`qrun worker ${this.name}: reconnected to ${options.address.url} after ${(ms / 1000).toFixed(1)} s`),
    });
  }

  start(): void {
    for (const queue of this.queues) {
      const worker = new Worker(queue, (job, token, signal) => this.process(job as Job<JobData>, token, signal), {
        // BullMQ duplicates this client for the worker's own connections; it stays connected, idle,
        // and is how this worker notices Redis going away and coming back (QueueConnections).
        connection: this.connections.make(),
        concurrency: this.options.concurrency,
        name: this.name,
        lockDuration: lockDurationMs(),
        stalledInterval: Math.max(1000, Math.round(lockDurationMs() / 2)),
        // One stall (a worker killed mid-step) re-queues the job; a second fails it rather than
        // letting a step that kills its workers take down every worker in turn.
        maxStalledCount: 1,
      });
      worker.on('error', (e) => {
        // BullMQ's own connections fail with each reconnect attempt while Redis is away: said once above.
        if (this.connections.downForMs() > 0 && isConnectionError(e)) return;
        this.io.err(`qrun worker ${this.name}: ${queue}: ${e.message}`);
      });
      const reported = (job: Job | undefined) => job && this.unreported.delete(`${job.queueName}:${job.id}`);
      worker.on('completed', reported);
      worker.on('failed', reported);
      this.workers.push(worker);
    }
  }

  /** Stops taking jobs, lets the running ones finish, closes every connection. */
  async close(): Promise<void> {
    // A Redis that died just before the signal may not have been noticed yet: a moment for its close to arrive.
    await new Promise((r) => setTimeout(r, 100));
    if (this.connections.anyAway()) await this.closeWhileAway();
    else await Promise.all(this.workers.map((w) => w.close()));
    await Promise.all([...this.lookups.values()].map((q) => q.close()));
    for (const r of this.remotes.values()) r.close();
    this.connections.closeAll();
  }

  /**
   * Stopping while Redis is away. BullMQ's close() first waits for its blocking connection to end,
   * and an ioredis connection waiting to reconnect never emits 'end' when told to disconnect: the
   * worker would hang, even after Redis is back. So: take no new job, let the running steps finish,
   * wait for Redis and for it to confirm their completion (10 s at most), then close without waiting.
   */
  private async closeWhileAway(): Promise<void> {
    this.io.err(`qrun worker ${this.name}: Redis is away: the running steps finish and are reported once it is back, then the worker stops (a second signal stops at once)`);
    const until = async (done: () => boolean, ms = Infinity) => {
      for (const t0 = Date.now(); !done() && Date.now() - t0 < ms; ) await new Promise((r) => setTimeout(r, 100));
    };
    await Promise.all(this.workers.map((w) => w.pause(true)));
    await until(() => this.running === 0);
    await this.connections.whenUp();
    await until(() => this.unreported.size === 0, 10_000);
    await Promise.all(this.workers.map((w) => w.close(true)));
  }

  private async process(job: Job<JobData>, token: string | undefined, signal: AbortSignal | undefined): Promise<unknown> {
    const data = job.data;
    this.running++;
    try {
      if (data.kind === 'wait') return await this.wait(job, token, data);
      if (data.kind === 'run') return { worker: this.name };
      return await this.runStepJob(data, signal);
    } finally {
      this.running--;
      // A wait job that looks again later (DelayedError) gets no completed/failed event.
      if (data.kind !== 'wait') this.unreported.add(`${job.queueName}:${job.id}`);
    }
  }

  /** A wait job: done when the step it stands for is; a failed step fails it; otherwise it looks again later. */
  private async wait(job: Job<JobData>, token: string | undefined, data: WaitJobData): Promise<unknown> {
    let queue = this.lookups.get(data.queueName);
    if (!queue) {
      this.lookups.set(data.queueName, (queue = new Queue(data.queueName, { connection: this.connections.make() })));
      queue.on('error', (e) => {
        if (!isConnectionError(e)) this.io.err(`qrun worker ${this.name}: ${data.queueName}: ${e.message}`);
      });
    }
    const state = await queue.getJobState(data.jobId);
    if (state === 'completed') return { waited: data.jobId };
    if (state === 'failed' || state === 'unknown') throw new UnrecoverableError(`the step job ${data.jobId} it waits for ${state === 'failed' ? 'failed' : 'is gone'}`);
    await job.moveToDelayed(Date.now() + WAIT_POLL_MS, token);
    throw new DelayedError();
  }

  private plan(file: string, hash: string): Promise<PlannedRecipe[]> {
    const memo = this.plans.get(file);
    const fresh = async () => loadAndPlanAll(file);
    if (!memo) {
      const p = fresh();
      this.plans.set(file, p);
      return p;
    }
    // The recipe may have been edited since it was loaded: load it again when the job names another hash.
    return memo.then((planned) => {
      if (planned.some((p) => p.recipe.hash === hash)) return planned;
      const p = fresh();
      this.plans.set(file, p);
      return p;
    });
  }

  private remote(url: string): RemoteCache {
    let r = this.remotes.get(url);
    if (!r) this.remotes.set(url, (r = new RemoteCache(url, 'readwrite', { strict: true, where: 'the job\'s remote cache' })));
    return r;
  }

  private localStore(): Promise<CacheStore> {
    this.store ??= (async () => {
      const store = new CacheStore(join(this.options.cache ?? defaultWorkerCache(), 'cache'));
      await store.init();
      return store;
    })();
    return this.store;
  }

  private async runStepJob(data: StepJobData, signal: AbortSignal | undefined): Promise<StepJobResult> {
    const label = `${data.stepId} [node ${data.nodeId.slice(0, 12)}]`;
    this.io.out(`${this.name}: ▶ ${label}`);
    try {
      const planned = await this.plan(data.recipeFile, data.recipeHash);
      const variant = planned[data.variant];
      if (!variant || variant.recipe.hash !== data.recipeHash) throw errors.queueRecipeChanged(data.recipeFile);
      const store = await this.localStore();
      const executor = new Executor(variant.recipe, variant.steps, store, { remote: this.remote(data.remoteCache), signal });
      const onEvent = (e: StepEvent) => {
        if (e.type === 'log' && e.level === 'warn') this.io.err(`${this.name}: ${data.stepId}: ${e.message}`);
      };
      const rebuilt: string[] = [];
      for (const before of ancestorsOf(variant.steps, data.stepId)) {
        const r = await executor.runStep(before, onEvent);
        if (r.status === 'ran') rebuilt.push(before.spec.id);
      }
      if (rebuilt.length) this.io.err(`${this.name}: warning: built ${rebuilt.join(', ')} again here: the remote cache had no entry under this machine's keys (do the workers run the same qrun, tools and CPU family?)`);
      const step = variant.steps.find((s) => s.spec.id === data.stepId)!;
      const record = await executor.runStep(step, onEvent);
      const how = record.status === 'hit' ? `cache hit${record.cacheNote ? ` (${record.cacheNote})` : ''}` : `${record.status} in ${(record.durationMs / 1000).toFixed(1)} s`;
      this.io.out(`${this.name}: ✓ ${label} — ${how}`);
      return { worker: this.name, record, rebuilt };
    } catch (e) {
      const message = e instanceof QrunError ? e.diagnostics.map((d) => `${d.message}${d.hint ? ` (hint: ${d.hint})` : ''}`).join('; ') : String((e as Error).stack ?? e);
      this.io.err(`${this.name}: ✗ ${label} — ${message}`);
      // A step that failed fails the same way on any worker: no retry.
      throw new UnrecoverableError(message);
    }
  }
}
