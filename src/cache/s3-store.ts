// The remote cache's object store: an S3 bucket and prefix reached through @aws-sdk/client-s3, so
// any S3-compatible store works (AWS S3, MinIO, Cloudflare R2, Ceph RGW, s3rver in the tests).
// Credentials and region come from the SDK's default provider chain (AWS_ACCESS_KEY_ID, AWS_PROFILE,
// ~/.aws/config and credentials, instance roles); a custom endpoint from AWS_ENDPOINT_URL_S3 or
// AWS_ENDPOINT_URL, the variables every AWS SDK and the CLI read. Custom endpoints get path-style
// addressing (http://host/bucket/key): MinIO, Ceph and s3rver do not serve a bucket per host name.
import { createReadStream, createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { errors, QrunError } from '../errors.ts';

/** `s3://bucket/prefix` taken apart; the prefix has no leading or trailing slash. */
export interface S3Location {
  url: string;
  bucket: string;
  prefix: string;
}

/** Bucket names as S3 allows them (3–63 lower-case letters, digits, dots, hyphens); R2 and MinIO follow the same rule. */
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

export function parseS3Url(url: string, where: string): S3Location {
  const m = /^s3:\/\/([^/]+)(?:\/(.*))?$/.exec(url.trim());
  if (!m || !BUCKET.test(m[1]!)) throw errors.remoteCacheUrlInvalid(url, where);
  return { url: url.trim(), bucket: m[1]!, prefix: (m[2] ?? '').replace(/^\/+|\/+$/g, '') };
}

/** Errors that say the store could not be talked to at all (as opposed to "this object is not there"). */
function describeFailure(e: unknown): string {
  const err = e as Error & { code?: string; $metadata?: { httpStatusCode?: number }; Code?: string };
  const cause = (err as { cause?: { code?: string } }).cause?.code;
  const code = err.code ?? cause ?? err.Code ?? err.name;
  const status = err.$metadata?.httpStatusCode;
  return `${code}${status ? ` (HTTP ${status})` : ''}${err.message && err.message !== code ? `: ${err.message}` : ''}`;
}

const isNotFound = (e: unknown) => {
  const err = e as { name?: string; $metadata?: { httpStatusCode?: number } };
  return err.name === 'NoSuchKey' || err.name === 'NotFound' || err.$metadata?.httpStatusCode === 404;
};

/** A file's sha256 and size, computed while it streams through (a download is hashed as it is written). */
function hashing(): { stream: Transform; result: () => { sha256: string; size: number } } {
  const h = createHash('sha256');
  let size = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _enc, done) {
      h.update(chunk);
      size += chunk.length;
      done(null, chunk);
    },
  });
  return { stream, result: () => ({ sha256: h.digest('hex'), size }) };
}

// The installed SDK runs on Node 20 (the project's minimum); its warning is about SDK releases that
// package-lock.json does not take, and would otherwise be printed by every qrun that uses the cache.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

export class S3ObjectStore {
  readonly client: S3Client;
  /** What the errors name: the custom endpoint, or "AWS S3". */
  readonly endpoint: string;

  constructor(readonly location: S3Location, env: NodeJS.ProcessEnv = process.env) {
    const endpoint = env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || undefined;
    this.endpoint = endpoint ?? 'AWS S3';
    this.client = new S3Client({
      // S3-compatible stores take any region name; the SDK refuses to sign without one.
      region: env.AWS_REGION || env.AWS_DEFAULT_REGION || (endpoint ? 'us-east-1' : undefined),
      ...(endpoint ? { endpoint, forcePathStyle: true } : {}),
      // The SDK's default adds CRC32 trailers in aws-chunked bodies, which several S3-compatible
      // stores reject; qrun verifies every file's sha256 against the manifest itself.
      requestChecksumCalculation: (env.AWS_REQUEST_CHECKSUM_CALCULATION?.toUpperCase() as 'WHEN_REQUIRED' | 'WHEN_SUPPORTED' | undefined) ?? 'WHEN_REQUIRED',
      responseChecksumValidation: (env.AWS_RESPONSE_CHECKSUM_VALIDATION?.toUpperCase() as 'WHEN_REQUIRED' | 'WHEN_SUPPORTED' | undefined) ?? 'WHEN_REQUIRED',
      maxAttempts: Number(env.QRUN_REMOTE_CACHE_ATTEMPTS) || 2,
    });
  }

  objectKey(rel: string): string {
    return this.location.prefix ? `${this.location.prefix}/${rel}` : rel;
  }

  /** The store as an error names it, with why it failed. */
  unreachable(e: unknown): QrunError {
    return errors.remoteCacheUnreachable(this.location.url, this.endpoint, describeFailure(e));
  }

  /** Whether the bucket answers with these credentials: a run checks once before it relies on the store. */
  async probe(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.location.bucket }));
    } catch (e) {
      throw this.unreachable(e);
    }
  }

  async exists(rel: string): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.location.bucket, Key: this.objectKey(rel) }));
      return true;
    } catch (e) {
      if (isNotFound(e)) return false;
      throw this.unreachable(e);
    }
  }

  /** An object's text, or undefined when it is not there. */
  async getText(rel: string): Promise<string | undefined> {
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.location.bucket, Key: this.objectKey(rel) }));
      return await r.Body!.transformToString('utf8');
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw this.unreachable(e);
    }
  }

  /** Downloads an object into `file`, returning the sha256 and size of what was written; undefined when it is not there. */
  async download(rel: string, file: string): Promise<{ sha256: string; size: number } | undefined> {
    let body: Readable;
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.location.bucket, Key: this.objectKey(rel) }));
      body = r.Body as Readable;
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw this.unreachable(e);
    }
    const h = hashing();
    try {
      await pipeline(body, h.stream, createWriteStream(file));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).syscall) throw e; // our disk, not the store
      throw this.unreachable(e);
    }
    return h.result();
  }

  async putText(rel: string, text: string): Promise<void> {
    try {
      await this.client.send(new PutObjectCommand({ Bucket: this.location.bucket, Key: this.objectKey(rel), Body: text, ContentType: 'application/json' }));
    } catch (e) {
      throw this.unreachable(e);
    }
  }

  /**
   * One PUT up to the part size (64 MiB, or QRUN_REMOTE_CACHE_PART_MIB), a multipart upload above
   * it: S3 takes at most 5 GiB in one PUT, and a model's external data can be far larger. Parts are
   * read from the file one at a time (never the whole file in memory); an upload that fails is
   * aborted, so the store keeps no orphaned parts.
   */
  async uploadFile(rel: string, file: string): Promise<void> {
    const { size } = await stat(file);
    const Bucket = this.location.bucket;
    const Key = this.objectKey(rel);
    // S3 allows 10,000 parts: a part grows past the configured size for files beyond 10,000 of them.
    const partSize = Math.max((Number(process.env.QRUN_REMOTE_CACHE_PART_MIB) || 64) * 2 ** 20, Math.ceil(size / 10_000));
    try {
      if (size <= partSize) {
        await this.client.send(new PutObjectCommand({ Bucket, Key, Body: createReadStream(file), ContentLength: size }));
        return;
      }
      const { UploadId } = await this.client.send(new CreateMultipartUploadCommand({ Bucket, Key }));
      try {
        const parts: { ETag?: string; PartNumber: number }[] = [];
        for (let start = 0, n = 1; start < size; start += partSize, n++) {
          const end = Math.min(size, start + partSize);
          const r = await this.client.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: n, Body: createReadStream(file, { start, end: end - 1 }), ContentLength: end - start }));
          parts.push({ ETag: r.ETag, PartNumber: n });
        }
        await this.client.send(new CompleteMultipartUploadCommand({ Bucket, Key, UploadId, MultipartUpload: { Parts: parts } }));
      } catch (e) {
        await this.client.send(new AbortMultipartUploadCommand({ Bucket, Key, UploadId })).catch(() => undefined);
        throw e;
      }
    } catch (e) {
      throw this.unreachable(e);
    }
  }

  destroy(): void {
    this.client.destroy();
  }
}
