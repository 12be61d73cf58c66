// What travels through Redis: a job's data (what to run, where to find it) and a step job's result
// (the step's record as the worker made it). Artifacts never do: they go through the remote cache.
import type { StepRecord } from '../engine/executor.ts';

/** Build one unique step: the worker loads the recipe from the same path, checks its hash, runs the variant's step. */
export interface StepJobData {
  kind: 'step';
  invocation: string;
  recipeFile: string;
  recipeHash: string;
  variant: number;
  stepId: string;
  nodeId: string;
  remoteCache: string;
}

/**
 * Stand-in for a second dependent of a step: BullMQ flows are trees (a job has one parent), and a
 * matrix's steps form a graph. The step is a child of its first dependent; each other dependent gets
 * a wait job, which completes when the step's own job has (re-checking later without holding a worker).
 */
export interface WaitJobData {
  kind: 'wait';
  jobId: string;
  queueName: string;
}

/** The flow's root: runnable once every step is done; it marks the end of the run in the queue. */
export interface RunJobData {
  kind: 'run';
  invocation: string;
  recipeFile: string;
}

export type JobData = StepJobData | WaitJobData | RunJobData;

export interface StepJobResult {
  worker: string;
  record: StepRecord;
  /** Steps before it the worker had to build itself because the remote cache did not have them (keys differ between machines). */
  rebuilt: string[];
}
