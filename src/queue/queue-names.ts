// One BullMQ queue per set of tags a step needs: `qrun` for steps any worker can run, `qrun-gpu`,
// `qrun-gpu+trtexec`, … A worker takes jobs from the queue of every subset of its own tags, so a
// step goes only to workers that have everything it needs, and no worker pulls a job it must refuse.
export const BASE_QUEUE = 'qrun';

export function queueNameFor(tags: string[]): string {
  return tags.length ? `${BASE_QUEUE}-${[...new Set(tags)].sort().join('+')}` : BASE_QUEUE;
}

/** The queues a worker with `tags` serves: one per subset of its tags, the untagged queue included. */
export function queuesForWorker(tags: string[]): string[] {
  const sorted = [...new Set(tags)].sort();
  const names: string[] = [];
  for (let mask = 0; mask < 1 << sorted.length; mask++) names.push(queueNameFor(sorted.filter((_, i) => mask & (1 << i))));
  return names;
}
