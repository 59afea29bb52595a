// An upload in one call: the three steps the API takes — ask for an upload URL, PUT the bytes to it (a presigned
// URL outside /v1: no API key, so no generated method), confirm — with the same errors as every other call.
import { SwitchboardError } from './errors.js';
import type { Switchboard } from './generated/sdk.gen.js';
import type { Media } from './generated/types.gen.js';

export interface MediaFile {
  /** The bytes. */
  data: Blob | ArrayBuffer | Uint8Array;
  /** 1–255 characters, with an extension. */
  filename: string;
  /** Kept for the record; the server reads the type from the bytes. */
  contentType?: string;
}

/** Uploads a file and confirms it: the returned media's `id` goes into a post's `containers[].media`. */
export async function uploadMedia(sb: Switchboard, file: MediaFile, opts: { fetch?: typeof fetch } = {}): Promise<Media> {
  const upload = await sb.createMediaUpload({ body: { filename: file.filename, content_type: file.contentType } });
  const body = file.data instanceof Blob ? file.data : new Blob([file.data as Uint8Array<ArrayBuffer>]);
  let response: Response;
  try {
    response = await (opts.fetch ?? fetch)(upload.upload_url, { method: 'PUT', body, headers: { 'content-type': file.contentType ?? 'application/octet-stream' } });
  } catch (err) {
    throw SwitchboardError.from(err, undefined);
  }
  if (!response.ok) throw SwitchboardError.from(await response.json().catch(() => undefined), response);
  await response.body?.cancel();
  return sb.confirmMediaUpload({ path: { id: upload.id }, body: { size: body.size } });
}
