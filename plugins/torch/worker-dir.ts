// Where the Python worker package lives, and the environment it runs in.
import { delimiter } from 'node:path';
import { fileURLToPath } from 'node:url';

/** plugins/torch/worker: the folder that holds the `qrun_worker` package. */
export const WORKER_DIR = fileURLToPath(new URL('./worker', import.meta.url));

/** The caller's environment plus what the worker needs: its package on PYTHONPATH, unbuffered
 * output (progress arrives as it happens), no .pyc files written into qrun's folder, and
 * deterministic cuBLAS (set before CUDA starts; https://docs.nvidia.com/cuda/cublas/#results-reproducibility). */
export function workerEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return {
    ...env,
    PYTHONPATH: env.PYTHONPATH ? `${WORKER_DIR}${delimiter}${env.PYTHONPATH}` : WORKER_DIR,
    PYTHONUNBUFFERED: '1',
    PYTHONDONTWRITEBYTECODE: '1',
    PYTHONIOENCODING: 'utf-8',
    CUBLAS_WORKSPACE_CONFIG: env.CUBLAS_WORKSPACE_CONFIG ?? ':4096:8',
  };
}
