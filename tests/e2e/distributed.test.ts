// Beyond one machine, through the real CLI: a redis-server and an S3-protocol server (s3rver) on
// loopback, `qrun worker` processes with caches of their own (as separate machines have), and
// `qrun run --queue`. What ran where is proven by counting real invocations: every command step
// appends "<step> <pid of the qrun that ran it>" to a file outside the recipe folder.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ResultPromise } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { qrun, startQrun, tempDir } from '../helpers/cli.ts';
import { freePort, redisServerAvailable, startRedis, startTlsRedis, tlsRedisAvailable, type RedisTestServer } from '../helpers/redis-server.ts';
import { startS3Server, type S3TestServer } from '../helpers/s3-server.ts';
import { waitFor } from '../helpers/wait-for.ts';
import type { Report } from '../../src/report/build-report.ts';

const HAVE_REDIS = redisServerAvailable();
if (!HAVE_REDIS) console.warn('distributed.test.ts: redis-server is not installed (.ci/run installs it: apt-get install redis-server); the job-queue tests are skipped');

let redis: RedisTestServer;
let s3: S3TestServer;
const env = () => ({ ...s3.env });

beforeAll(async () => {
  // The plan's test needs only the S3 server.
  [redis, s3] = await Promise.all([HAVE_REDIS ? startRedis() : (undefined as unknown as RedisTestServer), startS3Server()]);
});
// Workers and submitters still running when a test ends (it failed before they finished): killed,
// a worker with its process group.
const started: ResultPromise[] = [];
afterEach(() => {
  for (const p of started.splice(0)) {
    if (p.exitCode !== null || p.signalCode !== null || !p.pid) continue;
    try {
      process.kill(-p.pid, 'SIGKILL');
    } catch {
      p.kill('SIGKILL');
    }
  }
});
afterAll(async () => {
  await Promise.all([redis?.stop(), s3?.close()]);
});

/** A four-variant matrix: base is shared by all, mid by two variants each, leaf is one per variant (7 unique steps, 12 step runs). */
function matrixRecipe(dir: string, count: string): string {
  const file = join(dir, 'recipe.yaml');
  const log = (name: string) => `echo "${name} $PPID" >> ${count}`;
  writeFileSync(
    file,
    `name: dist
matrix:
  level: [1, 2]
  flavor: [a, b]
steps:
  - id: base
    uses: command
    with:
      run: [sh, -c, '${log('base')}; echo base > {outputs.out}']
      outputs: { out: { path: base.txt } }
      versionArgs: []
  - id: mid
    uses: command
    with:
      run: [sh, -c, '${log('mid-${{ matrix.level }}')}; cat {inputs.src} > {outputs.out}; echo level \${{ matrix.level }} >> {outputs.out}']
      inputs: { src: file }
      outputs: { out: { path: mid.txt } }
      versionArgs: []
  - id: leaf
    uses: command
    inputs: { base: base.out, mid: mid.out }
    with:
      run: [sh, -c, '${log('leaf-${{ matrix.level }}-${{ matrix.flavor }}')}; sleep 0.2; cat {inputs.base} {inputs.mid} > {outputs.out}; echo \${{ matrix.flavor }} >> {outputs.out}; echo "{\\"lines\\": 4}" > {outputs.metrics}']
      inputs: { base: file, mid: file }
      outputs: { out: { path: leaf.txt }, metrics: { path: metrics.json } }
      metrics: metrics
      versionArgs: []
`,
  );
  return file;
}

/** The invocations in the count file: step name → pids of the qrun processes that ran it. */
function invocations(count: string): Map<string, number[]> {
  const out = new Map<string, number[]>();
  if (!existsSync(count)) return out;
  for (const line of readFileSync(count, 'utf8').split('\n').filter(Boolean)) {
    const [name, pid] = line.split(' ');
    out.set(name!, [...(out.get(name!) ?? []), Number(pid)]);
  }
  return out;
}

/** Each variant's report.json in a cache folder, by variant label. */
function variantReports(cacheRoot: string): Map<string, Report> {
  const out = new Map<string, Report>();
  for (const run of readdirSync(join(cacheRoot, 'runs')).sort()) {
    const file = join(cacheRoot, 'runs', run, 'report.json');
    if (!existsSync(file)) continue;
    const report = JSON.parse(readFileSync(file, 'utf8')) as Report;
    out.set(report.recipe.variant?.label ?? '', report);
  }
  return out;
}

/** A report without what may differ between two runs of the same recipe: timings, ids, and where each step ran. */
function comparable(r: Report) {
  return {
    status: r.run.status,
    recipe: { hash: r.recipe.hash, variant: r.recipe.variant },
    gates: r.gates,
    cache: { ...r.cache, root: undefined },
    steps: r.steps.map((s) => ({ id: s.id, status: s.status, key: s.key, cacheNote: s.cacheNote, metrics: s.metrics, options: s.options, outputs: s.outputs })),
  };
}

/** A started worker; in an object, since a ResultPromise returned from an async function would be awaited to the process's end. */
async function startWorker(name: string, cache: string, extra: string[] = [], moreEnv: Record<string, string> = {}, url = redis.url): Promise<{ w: ResultPromise }> {
  // Its own process group: killing the group kills the step's command with it, as a machine dies.
  const w = startQrun(['worker', '--queue', url, '--cache', cache, '--name', name, ...extra], { env: { ...env(), ...moreEnv }, detached: true });
  started.push(w);
  let out = '';
  w.stdout?.on('data', (d: Buffer) => (out += String(d)));
  await waitFor(() => out.includes('taking steps from'), `worker ${name} to start`, { child: w });
  return { w };
}

async function stopWorker(w: ResultPromise): Promise<string> {
  w.kill('SIGTERM');
  const r = await w;
  return `${String(r.stdout)}\n${String(r.stderr)}`;
}

// skip-reason: no redis-server on this machine (.ci/run installs Debian's; the warning above says so)
describe.skipIf(!HAVE_REDIS)('distributed runs', () => {
  it('two workers and a four-variant matrix: every unique step is built once across them, the reports equal a local run\'s, and a fresh machine takes every step from the remote cache', async () => {
    const dir = tempDir('qrun-dist-');
    const count = join(dir, 'count.log');
    const recipe = matrixRecipe(dir, count);

    // The local run the distributed one must equal.
    const local = await qrun([recipe, '--cache', join(dir, 'local')], { env: env() });
    expect(local.exitCode, local.stderr).toBe(0);
    expect([...invocations(count).values()].flat().length).toBe(7);
    writeFileSync(count, '');

    const { w: w1 } = await startWorker('w1', join(dir, 'w1'));
    const { w: w2 } = await startWorker('w2', join(dir, 'w2'));
    const remote = `s3://${s3.bucket}/matrix`;
    const queued = await qrun([recipe, '--cache', join(dir, 'submitter'), '--queue', redis.url, '--remote-cache', remote], { env: env(), timeout: 40_000 });
    const logs = (await stopWorker(w1)) + (await stopWorker(w2));
    expect(queued.exitCode, `${queued.stdout}\n${queued.stderr}\n${logs}`).toBe(0);

    // Every unique step exactly once, all of them by the workers (never by the submitting process).
    const ran = invocations(count);
    expect([...ran.keys()].sort()).toEqual(['base', 'leaf-1-a', 'leaf-1-b', 'leaf-2-a', 'leaf-2-b', 'mid-1', 'mid-2']);
    for (const [step, pids] of ran) expect(pids.length, `${step} ran ${pids.length} times`).toBe(1);
    const workerPids = new Set([w1.pid, w2.pid]);
    for (const pids of ran.values()) expect(workerPids.has(pids[0])).toBe(true);
    expect(queued.stdout).toContain('queue: submitted 7 unique step(s) for 12 step run(s) in 4 variant(s)');
    expect(queued.stdout).toMatch(/remote cache s3:\/\/\S+ \(read\): 7 entries downloaded/);

    // The same reports as the local run, apart from timings and where each step ran; the same matrix table.
    const localReports = variantReports(join(dir, 'local'));
    const queuedReports = variantReports(join(dir, 'submitter'));
    expect([...queuedReports.keys()].sort()).toEqual(['level=1,flavor=a', 'level=1,flavor=b', 'level=2,flavor=a', 'level=2,flavor=b']);
    for (const [label, report] of queuedReports) {
      expect(comparable(report), label).toEqual(comparable(localReports.get(label)!));
      for (const s of report.steps) expect(['w1', 'w2']).toContain((s as { ranOn?: string }).ranOn);
    }
    const table = (out: string) => out.slice(out.indexOf('variant  '), out.indexOf('matrix report:'));
    expect(table(queued.stdout)).toBe(table(local.stdout));

    // A fresh machine (an empty local cache) with the remote cache (named by QRUN_REMOTE_CACHE this time): every step is a hit, nothing runs.
    const fresh = await qrun([recipe, '--cache', join(dir, 'fresh')], { env: { ...env(), QRUN_REMOTE_CACHE: remote } });
    expect(fresh.exitCode, fresh.stderr).toBe(0);
    expect([...invocations(count).values()].flat().length).toBe(7);
    expect(fresh.stdout).toMatch(/remote cache s3:\/\/\S+ \(readwrite\): 7 entries downloaded, 0 uploaded/);
    for (const report of variantReports(join(dir, 'fresh')).values()) for (const s of report.steps) expect(s.status).toBe('hit');
  }, 120_000);

  it('a worker killed mid-step: another worker takes the job over, the run completes, and the remote cache holds no half entry', async () => {
    const dir = tempDir('qrun-dist-kill-');
    const count = join(dir, 'count.log');
    const recipe = join(dir, 'recipe.yaml');
    writeFileSync(
      recipe,
      `name: slow
steps:
  - id: first
    uses: command
    with:
      run: [sh, -c, 'echo "first $PPID" >> ${count}; echo one > {outputs.out}']
      outputs: { out: { path: one.txt } }
      versionArgs: []
  - id: slow
    uses: command
    with:
      run: [sh, -c, 'echo "slow-start $PPID" >> ${count}; sleep 3; cat {inputs.src} > {outputs.out}; echo "slow-done $PPID" >> ${count}']
      inputs: { src: file }
      outputs: { out: { path: two.txt } }
      versionArgs: []
`,
    );
    const prefix = 'killed';
    // A job whose worker stopped renewing its lock is handed on after 4 s (60 s by default); the
    // other tests keep the default, so a worker slowed down by a loaded machine never loses a job.
    const lock = { QRUN_QUEUE_LOCK_MS: '4000' };
    // A database of its own: BullMQ runs the stalled-job check at most once per stalledInterval per
    // queue, across workers, and the workers of the tests before (60 s locks) leave that mark for
    // 30 s in database 0, which would hold up the takeover here by up to 30 s.
    const url = `${redis.url}/1`;
    const { w: a } = await startWorker('a', join(dir, 'a'), [], lock, url);
    const submit = startQrun([recipe, '--cache', join(dir, 'submitter'), '--queue', url, '--remote-cache', `s3://${s3.bucket}/${prefix}`], { env: env() });
    started.push(submit);
    await waitFor(() => (invocations(count).get('slow-start') ?? []).includes(a.pid!), 'worker a to be inside the slow step', { child: submit, timeoutMs: 60_000 });
    process.kill(-a.pid!, 'SIGKILL');
    await a.catch(() => undefined);
    const { w: b } = await startWorker('b', join(dir, 'b'), [], lock, url);
    const r = await submit;
    const logs = await stopWorker(b);
    expect(r.exitCode, `${String(r.stdout)}\n${String(r.stderr)}\n${logs}`).toBe(0);
    const ran = invocations(count);
    expect(ran.get('slow-start')).toEqual([a.pid, b.pid]);
    expect(ran.get('slow-done')).toEqual([b.pid]);
    expect(String(r.stdout)).toMatch(/slow \(command\) — ran in [\d.]+ s on b/);

    // Every entry in the store is whole: a manifest, and each file it lists.
    const root = join(s3.dir, s3.bucket, prefix, 'v1');
    const entries = readdirSync(root).flatMap((p) => readdirSync(join(root, p)).map((k) => join(root, p, k)));
    expect(entries.length).toBe(2);
    for (const e of entries) {
      const manifest = JSON.parse(readFileSync(join(e, 'manifest.json._S3rver_object'), 'utf8')) as { files: Record<string, unknown> };
      for (const rel of Object.keys(manifest.files)) expect(existsSync(join(e, 'out', `${rel}._S3rver_object`))).toBe(true);
    }
  }, 120_000);

  it('a step that needs a tag goes only to a worker that has it', async () => {
    const dir = tempDir('qrun-dist-tags-');
    const count = join(dir, 'count.log');
    const recipe = join(dir, 'recipe.yaml');
    writeFileSync(
      recipe,
      `name: tagged
remoteCache: s3://${s3.bucket}/tags
steps:
  - id: anywhere
    uses: command
    with:
      run: [sh, -c, 'echo "anywhere $PPID" >> ${count}; echo one > {outputs.out}']
      outputs: { out: { path: one.txt } }
      versionArgs: []
  - id: on-gpu
    uses: command
    tags: [gpu]
    with:
      run: [sh, -c, 'echo "on-gpu $PPID" >> ${count}; cat {inputs.src} > {outputs.out}']
      inputs: { src: file }
      outputs: { out: { path: two.txt } }
      versionArgs: []
`,
    );
    const { w: plain } = await startWorker('plain', join(dir, 'plain'));
    // The remote cache comes from the recipe's remoteCache: here.
    // After 1 s without progress the submitter says where jobs wait (30 s by default).
    const submit = startQrun([recipe, '--cache', join(dir, 'submitter'), '--queue', redis.url], { env: { ...env(), QRUN_QUEUE_QUIET_MS: '1000' } });
    started.push(submit);
    await waitFor(() => invocations(count).has('anywhere'), 'the untagged step to run', { child: submit });
    // The untagged worker is idle, and the gpu step waits in its own queue.
    await new Promise((r) => setTimeout(r, 1500));
    expect(invocations(count).has('on-gpu')).toBe(false);
    const { w: gpu } = await startWorker('gpu', join(dir, 'gpu'), ['--tags', 'gpu']);
    const r = await submit;
    const logs = (await stopWorker(plain)) + (await stopWorker(gpu));
    expect(r.exitCode, `${String(r.stdout)}\n${String(r.stderr)}\n${logs}`).toBe(0);
    expect(invocations(count).get('anywhere')).toEqual([plain.pid]);
    expect(invocations(count).get('on-gpu')).toEqual([gpu.pid]);
    expect(String(r.stdout)).toContain('(queues: qrun, qrun-gpu)');
    expect(String(r.stdout)).toMatch(/queue: no step finished for \d+ s; jobs wait in qrun-gpu: is a worker serving it/);
  }, 90_000);

  it('SIGTERM while a worker runs a step: it finishes the step, the job completes and the run with it, then the worker exits 0', async () => {
    const dir = tempDir('qrun-dist-term-');
    const count = join(dir, 'count.log');
    const gate = join(dir, 'gate');
    const recipe = join(dir, 'recipe.yaml');
    writeFileSync(
      recipe,
      `name: term
steps:
  - id: held
    uses: command
    with:
      run: [sh, -c, 'echo "held-start $PPID" >> ${count}; while [ ! -e ${gate} ]; do sleep 0.1; done; echo held > {outputs.out}']
      outputs: { out: { path: held.txt } }
      versionArgs: []
`,
    );
    const { w } = await startWorker('t', join(dir, 't'));
    const submit = startQrun([recipe, '--cache', join(dir, 'submitter'), '--queue', redis.url, '--remote-cache', `s3://${s3.bucket}/term`], { env: env() });
    started.push(submit);
    await waitFor(() => (invocations(count).get('held-start') ?? []).includes(w.pid!), 'the worker to be inside the step', { child: submit });
    w.kill('SIGTERM');
    // The step goes on a little after the signal, then finishes.
    await new Promise((r) => setTimeout(r, 300));
    writeFileSync(gate, '');
    const [rw, rs] = await Promise.all([w, submit]);
    const logs = `${String(rw.stdout)}\n${String(rw.stderr)}\n${String(rs.stdout)}\n${String(rs.stderr)}`;
    expect(rw.exitCode, logs).toBe(0);
    expect(String(rw.stdout)).toMatch(/SIGTERM: finishing the steps it is running[\s\S]*✓ held/);
    expect(rs.exitCode, logs).toBe(0);
  }, 60_000);

  it('Redis going away mid-run: back in time, the worker and the submitter reconnect and the run completes; away too long, the submitter stops with QUEUE_CONNECTION_LOST; back without its data, QUEUE_JOBS_LOST; a worker stopped meanwhile reports its step once Redis is back', async () => {
    const dir = tempDir('qrun-dist-drop-');
    const count = join(dir, 'count.log');
    // A Redis of its own that keeps its data across a restart (append-only file, each write synced), on one port.
    const data = join(dir, 'redis-data');
    mkdirSync(data);
    const port = await freePort();
    const persist = ['--appendonly', 'yes', '--appendfsync', 'always', '--dir', data];
    let own = await startRedis(persist, port);
    const kill = async () => {
      const p = own.process;
      p.kill('SIGKILL');
      if (p.exitCode === null && p.signalCode === null) await new Promise((r) => p.once('exit', r));
    };
    try {
      // Step "two" of recipe N starts, then waits until the test creates its gate file.
      const recipeFor = (n: number) => {
        const file = join(dir, `recipe-${n}.yaml`);
        const gate = join(dir, `gate-${n}`);
        writeFileSync(
          file,
          `name: drop${n}
steps:
  - id: one
    uses: command
    with: { run: [sh, -c, 'echo ${n} > {outputs.out}'], outputs: { out: { path: one.txt } }, versionArgs: [] }
  - id: two
    uses: command
    with:
      run: [sh, -c, 'echo "two${n}-start $PPID" >> ${count}; while [ ! -e ${gate} ]; do sleep 0.1; done; cat {inputs.src} > {outputs.out}; echo "two${n}-done $PPID" >> ${count}']
      inputs: { src: file }
      outputs: { out: { path: two.txt } }
      versionArgs: []
`,
        );
        return { file, open: () => writeFileSync(gate, '') };
      };
      const { w } = await startWorker('w', join(dir, 'w'), [], {}, own.url);
      let wErr = '';
      w.stderr?.on('data', (d: Buffer) => (wErr += String(d)));
      const submit = (n: number, downMs: number) => {
        const r = recipeFor(n);
        const p = startQrun([r.file, '--cache', join(dir, `submitter-${n}`), '--queue', own.url, '--remote-cache', `s3://${s3.bucket}/drop`], { env: { ...env(), QRUN_QUEUE_DOWN_MS: String(downMs) } });
        started.push(p);
        const out = { err: '' };
        p.stderr?.on('data', (d: Buffer) => (out.err += String(d)));
        return { p, out, open: r.open };
      };
      const startedOn = (n: number) => () => (invocations(count).get(`two${n}-start`) ?? []).includes(w.pid!);

      // 1. Redis stops while the worker is inside a step and comes back with its data: both reconnect, the run completes.
      const s1 = submit(1, 30_000);
      await waitFor(startedOn(1), 'the worker to be inside step two', { child: s1.p });
      await kill();
      await waitFor(() => wErr.includes('QUEUE_CONNECTION_LOST') && s1.out.err.includes('queue: lost the connection'), 'the worker and the submitter to say Redis is gone', { child: s1.p });
      expect(wErr).toContain(`warning QUEUE_CONNECTION_LOST: lost the connection to ${own.url} (ECONNREFUSED`);
      own = await startRedis(persist, port);
      s1.open();
      const r1 = await s1.p;
      expect(r1.exitCode, `${String(r1.stdout)}\n${String(r1.stderr)}\n${wErr}`).toBe(0);
      expect(String(r1.stdout)).toMatch(/two \(command\) — ran in [\d.]+ s on w/);
      expect(String(r1.stderr)).toMatch(new RegExp(`queue: reconnected to ${own.url} after [\\d.]+ s`));
      expect(wErr).toMatch(/qrun worker w: reconnected to/);

      // 2. Redis stays away: the submitter stops after QRUN_QUEUE_DOWN_MS with an error naming it, instead of waiting forever.
      const s2 = submit(2, 2000);
      await waitFor(startedOn(2), 'the worker to be inside step two again', { child: s2.p });
      await kill();
      const r2 = await s2.p;
      expect(r2.exitCode).toBe(1);
      expect(String(r2.stderr)).toContain(`error QUEUE_CONNECTION_LOST: lost the job queue's Redis ${own.url}: no answer for 2 s (ECONNREFUSED`);
      // The worker waited for it: back, it finishes the step it held.
      own = await startRedis(persist, port);
      s2.open();
      await waitFor(() => invocations(count).has('two2-done'), 'the worker to finish the step after Redis is back', { child: w });

      // 3. Redis comes back without its data (another folder): the submitter says the jobs are gone.
      const s3run = submit(3, 30_000);
      await waitFor(startedOn(3), 'the worker to be inside step two a third time', { child: s3run.p });
      await kill();
      own = await startRedis(['--dir', tempDir('qrun-redis-empty-')], port);
      const r3 = await s3run.p;
      expect(r3.exitCode, String(r3.stderr)).toBe(1);
      // Of step two, or of step one when the submitter had not yet seen it complete.
      expect(String(r3.stderr)).toMatch(new RegExp(`error QUEUE_JOBS_LOST: the job queue's Redis ${own.url} no longer holds the job of step "(one|two)" \\(command\\)`));
      s3run.open();
      await waitFor(() => invocations(count).has('two3-done'), 'the worker to finish its step', { child: w });

      // 4. The worker stopped while Redis is away: it finishes its step, reports it once Redis is back, and exits 0.
      await kill();
      own = await startRedis(persist, port);
      const s4 = submit(4, 30_000);
      await waitFor(startedOn(4), 'the worker to be inside step two a fourth time', { child: s4.p });
      await kill();
      // Not w.kill(): execa would SIGKILL it 5 s later.
      process.kill(w.pid!, 'SIGTERM');
      s4.open();
      await waitFor(() => invocations(count).has('two4-done'), 'the step to finish', { child: w });
      await new Promise((r) => setTimeout(r, 500));
      expect(w.exitCode, 'the worker waits for Redis to report its step').toBe(null);
      own = await startRedis(persist, port);
      const [rw, r4] = await Promise.all([w, s4.p]);
      const logs = `${String(rw.stdout)}\n${String(rw.stderr)}\n${String(r4.stdout)}\n${String(r4.stderr)}`;
      expect(rw.exitCode, logs).toBe(0);
      expect(String(rw.stderr)).toContain('Redis is away: the running steps finish and are reported once it is back');
      expect(r4.exitCode, logs).toBe(0);
      expect(String(r4.stdout)).toMatch(/two \(command\) — ran in [\d.]+ s on w/);
    } finally {
      await own.stop();
    }
  }, 120_000);

  // skip-reason: no openssl to make the test certificate
  it.skipIf(!tlsRedisAvailable())('rediss://: a worker and a submitter over TLS, trusting a private CA through NODE_EXTRA_CA_CERTS', async () => {
    const dir = tempDir('qrun-dist-tls-');
    const count = join(dir, 'count.log');
    const recipe = join(dir, 'recipe.yaml');
    writeFileSync(
      recipe,
      `name: tls
steps:
  - id: only
    uses: command
    with: { run: [sh, -c, 'echo "only $PPID" >> ${count}; echo tls > {outputs.out}'], outputs: { out: { path: o.txt } }, versionArgs: [] }
`,
    );
    const tls = await startTlsRedis();
    try {
      const trust = { NODE_EXTRA_CA_CERTS: tls.caFile };
      const { w } = await startWorker('tls', join(dir, 'w'), [], trust, tls.url);
      const r = await qrun([recipe, '--cache', join(dir, 'submitter'), '--queue', tls.url, '--remote-cache', `s3://${s3.bucket}/tls`], { env: { ...env(), ...trust }, timeout: 30_000 });
      const logs = await stopWorker(w);
      expect(r.exitCode, `${r.stdout}\n${r.stderr}\n${logs}`).toBe(0);
      expect(invocations(count).get('only')).toEqual([w.pid]);
      // Without the CA: src/queue/connection.test.ts (QUEUE_UNREACHABLE naming the certificate).
    } finally {
      await tls.stop();
    }
  }, 60_000);

  it('Redis or the store unreachable: errors that name them; a local run goes on without an unreachable remote cache, warned', async () => {
    const dir = tempDir('qrun-dist-down-');
    const recipe = matrixRecipe(dir, join(dir, 'count.log'));
    const deadRedis = `redis://127.0.0.1:${await freePort()}`;
    const r1 = await qrun([recipe, '--cache', join(dir, 'c'), '--queue', deadRedis, '--remote-cache', `s3://${s3.bucket}/x`], { env: env() });
    expect(r1.exitCode).toBe(1);
    expect(r1.stderr).toContain(`error QUEUE_UNREACHABLE: the job queue's Redis ${deadRedis} cannot be reached: ECONNREFUSED`);
    const deadS3 = { ...env(), AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${await freePort()}` };
    const r2 = await qrun([recipe, '--cache', join(dir, 'c'), '--queue', redis.url, '--remote-cache', `s3://${s3.bucket}/x`], { env: deadS3 });
    expect(r2.exitCode).toBe(1);
    expect(r2.stderr).toMatch(/error REMOTE_CACHE_UNREACHABLE: the remote cache s3:\/\/\S+ \(endpoint http:\/\/127\.0\.0\.1:\d+\) cannot be used[\s\S]*hint: check the endpoint/);
    const bad = await qrun([recipe, '--cache', join(dir, 'c'), '--remote-cache', `s3://${s3.bucket}/x`, '--remote-cache-mode', 'sometimes'], { env: env() });
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain('--remote-cache-mode must be read, write or readwrite, got sometimes');
    const r3 = await qrun([recipe, '--cache', join(dir, 'c'), '--queue', redis.url], { env: env() });
    expect(r3.exitCode).toBe(2);
    expect(r3.stderr).toContain('QUEUE_NEEDS_REMOTE_CACHE');
    // A local run: warned once, every step built here.
    const r4 = await qrun([recipe, '--cache', join(dir, 'c'), '--remote-cache', `s3://${s3.bucket}/x`], { env: deadS3 });
    expect(r4.exitCode, r4.stderr).toBe(0);
    expect(r4.stderr.match(/REMOTE_CACHE_UNREACHABLE/g)?.length).toBe(1);
    expect(r4.stderr).toContain('the remote cache is off for this run');
  }, 90_000);
});

describe('qrun plan with a remote cache', () => {
  /** The plan's table: step id → [plan, why]. */
  const planOf = (stdout: string) => new Map(stdout.split('\n').map((l) => l.trim().split(/\s{2,}/)).filter((c) => ['one', 'two', 'three'].includes(c[0]!)).map((c) => [c[0]!, [c[2], c[4] ?? '']]));

  it('a step the local cache lacks and the remote one holds is a "remote hit", down the chain of keys, and nothing is downloaded', async () => {
    const dir = tempDir('qrun-plan-remote-');
    const recipe = join(dir, 'recipe.yaml');
    const write = (last: string) =>
      writeFileSync(
        recipe,
        `name: chain
steps:
  - id: one
    uses: command
    with: { run: [sh, -c, 'echo one > {outputs.out}'], outputs: { out: { path: one.txt } }, versionArgs: [] }
  - id: two
    uses: command
    with: { run: [sh, -c, 'cat {inputs.src} > {outputs.out}; echo two >> {outputs.out}'], inputs: { src: file }, outputs: { out: { path: two.txt } }, versionArgs: [] }
  - id: three
    uses: command
    with: { run: [sh, -c, 'cat {inputs.src} > {outputs.out}; echo ${last} >> {outputs.out}'], inputs: { src: file }, outputs: { out: { path: three.txt } }, versionArgs: [] }
`,
      );
    write('three');
    const remote = `s3://${s3.bucket}/plan`;
    const built = await qrun([recipe, '--cache', join(dir, 'built'), '--remote-cache', remote], { env: env() });
    expect(built.exitCode, built.stderr).toBe(0);
    expect(built.stdout).toContain('0 entries downloaded, 3 uploaded');

    // Another machine: nothing in its cache. Without the remote cache everything runs; with it, nothing does.
    const fresh = join(dir, 'fresh');
    const alone = await qrun(['plan', recipe, '--cache', fresh], { env: env() });
    expect([...planOf(alone.stdout).values()].map((p) => p[0])).toEqual(['run', 'run', 'run']);
    const plan = await qrun(['plan', recipe, '--cache', fresh, '--remote-cache', remote], { env: env() });
    expect(plan.exitCode, plan.stderr).toBe(0);
    expect([...planOf(plan.stdout).values()]).toEqual([0, 1, 2].map(() => ['remote hit', `in ${remote}`]));
    expect(plan.stdout).toContain('0 of 3 step(s) will run (3 from the remote cache)');
    // The manifests were read, no entry taken: the local cache holds none.
    expect(existsSync(join(fresh, 'cache', 'entries')) ? readdirSync(join(fresh, 'cache', 'entries')) : []).toEqual([]);

    // The last step changed: the first two are still remote hits (QRUN_REMOTE_CACHE names the store this time), the last runs.
    write('changed');
    const changed = await qrun(['run', recipe, '--dry-run', '--cache', fresh], { env: { ...env(), QRUN_REMOTE_CACHE: remote } });
    expect(changed.exitCode, changed.stderr).toBe(0);
    expect([...planOf(changed.stdout).values()].map((p) => p[0])).toEqual(['remote hit', 'remote hit', 'run']);
    // --remote-cache-mode write never reads: a plain local plan.
    const writeOnly = await qrun(['plan', recipe, '--cache', fresh, '--remote-cache', remote, '--remote-cache-mode', 'write'], { env: env() });
    expect([...planOf(writeOnly.stdout).values()].map((p) => p[0])).toEqual(['run', 'run', 'run']);
    // A store that cannot be reached: warned once, and the plan is the local one.
    const down = await qrun(['plan', recipe, '--cache', fresh, '--remote-cache', remote], { env: { ...env(), AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${await freePort()}` } });
    expect(down.exitCode, down.stderr).toBe(0);
    expect(down.stderr.match(/REMOTE_CACHE_UNREACHABLE/g)?.length).toBe(1);
    expect(down.stderr).toContain('the plan leaves the remote cache out');
    expect([...planOf(down.stdout).values()].map((p) => p[0])).toEqual(['run', 'run', 'run']);
  }, 60_000);
});
