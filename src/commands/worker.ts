// `qrun worker --queue redis://HOST:PORT`: checks the Redis once (a clear QUEUE_UNREACHABLE), then
// takes step jobs until SIGINT or SIGTERM, after which it finishes the steps it holds and exits.
import type { Output } from '../engine/output.ts';
import { parseQueueUrl, probeQueue } from '../queue/connection.ts';
import { defaultWorkerCache, QrunWorker } from '../queue/worker.ts';

export async function workerCommand(o: { queue: string; concurrency: number; tags: string[]; cache?: string; name?: string }, io: Output): Promise<number> {
  const address = parseQueueUrl(o.queue);
  await probeQueue(address);
  const worker = new QrunWorker({ address, concurrency: o.concurrency, tags: o.tags, cache: o.cache, name: o.name }, io);
  worker.start();
  io.out(`qrun worker ${worker.name}: taking steps from ${address.url} (queues ${worker.queues.join(', ')}; ${o.concurrency} at a time from each; local cache ${o.cache ?? defaultWorkerCache()})`);
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  io.out(`qrun worker ${worker.name}: ${signal}: finishing the steps it is running, then stopping (a second signal stops at once)`);
  process.once(signal, () => process.exit(130));
  await worker.close();
  return 0;
}
