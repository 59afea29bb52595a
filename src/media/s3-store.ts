// Media bytes in an S3-compatible bucket (AWS S3, Cloudflare R2, MinIO, Ceph, …): SWITCHBOARD_MEDIA_STORE=
// s3://bucket/prefix, with SWITCHBOARD_S3_ENDPOINT (unset: AWS), SWITCHBOARD_S3_REGION, SWITCHBOARD_S3_FORCE_PATH_STYLE
// (most self-hosted servers need it) and AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (unset: the SDK's default chain,
// e.g. an instance role). Several processes on several machines then share one store.
//
// put: a streamed multipart upload (@aws-sdk/lib-storage): parts of PART_BYTES, at most QUEUE_SIZE in flight, so an
//   upload holds about PART_BYTES × (QUEUE_SIZE + 1) in memory whatever the file's size; a file past the limit
//   aborts the multipart upload (nothing is kept). A file smaller than one part is a single PutObject.
// get: GetObject, with `Range: bytes=start-end` for a range.  delete: DeleteObject (no error if already gone).
import { DeleteObjectCommand, GetObjectCommand, NoSuchKey, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { Readable } from 'node:stream';
import type { Config } from '../config.ts';
import { byteLimit, MediaMissing, MediaTooLarge, type MediaStore } from './store.ts';

/** S3's smallest part is 5 MiB (but the last); 8 MiB parts reach its 10,000-part cap at 80 GB. */
const PART_BYTES = 8 * 1024 * 1024;
const QUEUE_SIZE = 2;

export class S3MediaStore implements MediaStore {
  readonly kind = 's3' as const;
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;

  constructor(location: string, s3: Config['media']['s3']) {
    const url = new URL(location);
    this.bucket = url.hostname;
    this.prefix = url.pathname.replace(/^\/+|\/+$/g, '');
    this.client = new S3Client({
      region: s3.region,
      endpoint: s3.endpoint,
      forcePathStyle: s3.forcePathStyle,
      ...(s3.accessKeyId && s3.secretAccessKey ? { credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } } : {}),
    });
  }

  private key(key: string): string {
    return this.prefix ? `${this.prefix}/${key}` : key;
  }

  async put(key: string, body: Readable, opts: { contentType: string; maxBytes: number }): Promise<{ size: number }> {
    let size = 0;
    let tooLarge: MediaTooLarge | undefined;
    const counted = body.pipe(
      byteLimit(opts.maxBytes, (n) => (size = n)).on('error', (err) => {
        if (err instanceof MediaTooLarge) tooLarge = err;
      }),
    );
    // A failing source must fail the upload too (pipe does not carry errors forward).
    body.on('error', (err) => counted.destroy(err));
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: this.key(key), Body: counted, ContentType: opts.contentType },
      partSize: PART_BYTES,
      queueSize: QUEUE_SIZE,
      // A failed upload aborts its multipart upload, so no parts are left (and billed) in the bucket.
      leavePartsOnError: false,
    });
    try {
      await upload.done();
    } catch (err) {
      if (tooLarge) throw tooLarge;
      throw err;
    }
    if (tooLarge) throw tooLarge;
    return { size };
  }

  async get(key: string, range?: { start: number; end: number }): Promise<Readable> {
    try {
      const out = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: this.key(key), ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}) }),
      );
      return out.Body as Readable;
    } catch (err) {
      if (err instanceof NoSuchKey || (err as { name?: string }).name === 'NoSuchKey') throw new MediaMissing(key);
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.key(key) }));
  }
}
