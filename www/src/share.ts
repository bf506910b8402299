// Share links: the editor text and the Istio version, compressed into the URL fragment.
// The fragment is never sent to a server, so a shared policy never leaves the browser.
//
// Format: `#v1.<base64url(deflate-raw(JSON))>` where JSON is {"yaml": string, "istio": string}.
// The `v1.` prefix versions the payload; anything else in the fragment is refused on import,
// and every field is checked, so a hostile link can only ever put text into the editor.

export const SHARE_PREFIX = 'v1.';
/** Larger decoded payloads are refused (a tiny link must not inflate into gigabytes). */
export const MAX_DECODED_BYTES = 8 * 1024 * 1024;
/** Above this URL length some chat tools and servers truncate links: the page warns. */
export const LONG_URL = 2000;

export interface SharedState {
  yaml: string;
  istio: string;
}

export class ShareError extends Error {}

const VERSION_RE = /^(auto|\d{1,2}\.\d{1,3})$/;

function toBase64Url(bytes: Uint8Array): string {
  let bin = '';
  const CHUNK = 0x8000;
  for (let i = 0; i < bytes.length; i += CHUNK) {
    bin += String.fromCharCode(...bytes.subarray(i, i + CHUNK));
  }
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function fromBase64Url(text: string): Uint8Array {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) throw new ShareError('the link is damaged (not base64url)');
  const b64 = text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (text.length % 4)) % 4);
  let bin: string;
  try {
    bin = atob(b64);
  } catch {
    throw new ShareError('the link is damaged (not base64url)');
  }
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

async function pipe(bytes: Uint8Array, stream: GenerateStream, limit: number): Promise<Uint8Array> {
  const reader = new Blob([bytes as BlobPart]).stream().pipeThrough(stream).getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > limit) {
      await reader.cancel();
      throw new ShareError(`the shared text is larger than ${limit} bytes`);
    }
    parts.push(value);
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

type GenerateStream = TransformStream<Uint8Array, Uint8Array>;

/** The fragment (without `#`) that restores `state`. */
export async function encodeShare(state: SharedState): Promise<string> {
  const json = JSON.stringify({ yaml: state.yaml, istio: state.istio });
  const packed = await pipe(
    new TextEncoder().encode(json),
    new CompressionStream('deflate-raw') as GenerateStream,
    Number.MAX_SAFE_INTEGER,
  );
  return SHARE_PREFIX + toBase64Url(packed);
}

/** Whether a fragment (with or without `#`) looks like a share link at all. */
export function isShareFragment(fragment: string): boolean {
  return fragment.replace(/^#/, '').startsWith(SHARE_PREFIX);
}

/** The state a fragment holds; throws ShareError for anything that is not a valid v1 link. */
export async function decodeShare(fragment: string): Promise<SharedState> {
  const body = fragment.replace(/^#/, '');
  if (!body.startsWith(SHARE_PREFIX)) {
    throw new ShareError('not a playground link (it does not start with v1.)');
  }
  const packed = fromBase64Url(body.slice(SHARE_PREFIX.length));
  let bytes: Uint8Array;
  try {
    bytes = await pipe(packed, new DecompressionStream('deflate-raw') as GenerateStream, MAX_DECODED_BYTES);
  } catch (e) {
    if (e instanceof ShareError) throw e;
    throw new ShareError('the link is damaged (it does not decompress)');
  }
  let data: unknown;
  try {
    data = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw new ShareError('the link is damaged (its content is not JSON)');
  }
  if (typeof data !== 'object' || data === null) throw new ShareError('the link holds no playground state');
  const { yaml, istio } = data as Record<string, unknown>;
  if (typeof yaml !== 'string') throw new ShareError('the link holds no YAML text');
  const version = typeof istio === 'string' && VERSION_RE.test(istio) ? istio : 'auto';
  return { yaml, istio: version };
}
