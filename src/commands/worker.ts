// `qrun worker --queue redis://HOST:PORT`: checks the Redis once (a clear QUEUE_UNREACHABLE), then
// takes step jobs until SIGINT or SIGTERM, after which it finishes the steps it holds and exits.
import type { Output } from '../engine/output.ts';
import { exitCodeOfSignal } from '../errors.ts';
import { parseQueueUrl, probeQueue } from '../queue/connection.ts';
import { defaultWorkerCache, QrunWorker } from '../queue/worker.ts';

export async function workerCommand(o: { queue: string; concurrency: number; tags: string[]; cache?: string; name?: string }, io: Output): Promise<number> {
  const address = parseQueueUrl(o.queue);
  await probeQueue(address);
  const worker = new QrunWorker({ address, concurrency: o.concurrency, tags: o.tags, cache: o.cache, name: o.name }, io);
  worker.start();
  io.out(`qrun worker ${worker.name}: taking steps from ${address.url} (queues ${worker.queues.join(', ')}; ${o.concurrency} at a time from each; local cache ${o.cache ?? defaultWorkerCache()})`);
  // The handlers stay installed until the worker has closed: with none left but its own, execa's
  // signal-exit re-raises the signal it saw, which came back as a "second" signal and failed the
  // step the worker was finishing (and the run with it).
  let received: NodeJS.Signals | undefined;
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    const handler = (s: NodeJS.Signals) => {
      if (received) process.exit(exitCodeOfSignal(s));
      received = s;
      resolve(s);
    };
    process.on('SIGINT', handler);
    process.on('SIGTERM', handler);
  });
  io.out(`qrun worker ${worker.name}: ${signal}: finishing the steps it is running, then stopping (a second signal stops at once)`);
  await worker.close();
  return 0;
}
