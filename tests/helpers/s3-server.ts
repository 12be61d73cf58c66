// An S3-protocol server on loopback serving a temp folder (s3rver), for the remote cache's tests: the
// real @aws-sdk/client-s3 talks HTTP to it, as it would to MinIO or R2. `env` is what a qrun process
// needs to reach it (the standard AWS variables, nothing qrun-specific).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';

export interface S3TestServer {
  server: S3rver;
  /** The folder s3rver keeps the buckets in: `<dir>/<bucket>/<key>._S3rver_object`. */
  dir: string;
  bucket: string;
  endpoint: string;
  env: Record<string, string>;
  close(): Promise<void>;
}

export async function startS3Server(bucket = 'qrun-cache'): Promise<S3TestServer> {
  const dir = mkdtempSync(join(tmpdir(), 'qrun-s3-'));
  const server = new S3rver({ port: 0, address: '127.0.0.1', directory: dir, silent: true, configureBuckets: [{ name: bucket, configs: [] }] });
  const address = (await server.run()) as unknown as { port: number };
  const endpoint = `http://127.0.0.1:${address.port}`;
  const env = { AWS_ENDPOINT_URL_S3: endpoint, AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' };
  return { server, dir, bucket, endpoint, env, close: () => server.close().then(() => undefined) };
}

/** The path of an object's content in s3rver's folder. */
export function objectFile(s3: S3TestServer, key: string): string {
  return join(s3.dir, s3.bucket, `${key}._S3rver_object`);
}
