import ort from 'onnxruntime-node';

export interface SessionSettings {
  /** Threads for one operator; 0 lets onnxruntime choose (all cores). */
  intraOpThreads?: number;
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
  optimizedModelFilePath?: string;
  /** Per-operator timings (onnxruntime's profiler): written to `<prefix>_<date>.json` by endProfiling(). */
  profileFilePrefix?: string;
  /**
   * Whether idle pool threads spin before sleeping (onnxruntime's default: yes). Several sessions
   * timed in turns in one process should not spin: a session's spinning threads take the cores
   * from the next session's run.
   */
  allowSpinning?: boolean;
}

export async function createSession(modelPath: string | Uint8Array, settings: SessionSettings = {}): Promise<ort.InferenceSession> {
  const options: ort.InferenceSession.SessionOptions = {
    executionProviders: ['cpu'],
    graphOptimizationLevel: settings.optimization ?? 'all',
    intraOpNumThreads: settings.intraOpThreads ?? 0,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    logSeverityLevel: 3,
  };
  if (settings.optimizedModelFilePath) options.optimizedModelFilePath = settings.optimizedModelFilePath;
  if (settings.allowSpinning === false) options.extra = { session: { 'intra_op.allow_spinning': '0' } };
  if (settings.profileFilePrefix) {
    options.enableProfiling = true;
    options.profileFilePrefix = settings.profileFilePrefix;
  }
  return typeof modelPath === 'string' ? ort.InferenceSession.create(modelPath, options) : ort.InferenceSession.create(modelPath, options);
}

export const ORT_VERSION: string = (ort.env.versions as { common?: string }).common ?? 'unknown';
