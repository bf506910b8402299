import { describe, expect, it } from 'vitest';
import { MAX_DECODED_BYTES, SHARE_PREFIX, ShareError, decodeShare, encodeShare, isShareFragment } from '../src/share';

async function deflate(text: string): Promise<Uint8Array> {
  const stream = new Blob([text]).stream().pipeThrough(new CompressionStream('deflate-raw'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

function b64url(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64url');
}

describe('share links', () => {
  it('round-trips the text and the version, with a version prefix', async () => {
    const yaml = 'kind: PeerAuthentication # ünïcödé ✓\nmetadata:\n  name: "<script>x</script>"\n';
    const fragment = await encodeShare({ yaml, istio: '1.5' });
    expect(fragment.startsWith(SHARE_PREFIX)).toBe(true);
    expect(fragment).toMatch(/^v1\.[A-Za-z0-9_-]+$/);
    expect(isShareFragment(`#${fragment}`)).toBe(true);
    expect(await decodeShare(`#${fragment}`)).toEqual({ yaml, istio: '1.5' });
  });

  it('compresses: a repetitive 20 KB input gives a short link', async () => {
    const yaml = 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: foo\n---\n'.repeat(400);
    const fragment = await encodeShare({ yaml, istio: 'auto' });
    expect(fragment.length).toBeLessThan(yaml.length / 20);
    expect((await decodeShare(fragment)).yaml).toBe(yaml);
  });

  it('refuses fragments that are not v1 links', async () => {
    expect(isShareFragment('#section-2')).toBe(false);
    await expect(decodeShare('#v0.abc')).rejects.toBeInstanceOf(ShareError);
    await expect(decodeShare('#v1.not*base64')).rejects.toThrow(/base64url/);
    await expect(decodeShare(`#v1.${b64url(new Uint8Array([1, 2, 3, 4, 5]))}`)).rejects.toThrow(/decompress/);
    await expect(decodeShare(`#v1.${b64url(await deflate('not json'))}`)).rejects.toThrow(/not JSON/);
    await expect(decodeShare(`#v1.${b64url(await deflate('{"yaml": 42}'))}`)).rejects.toThrow(/no YAML/);
    await expect(decodeShare(`#v1.${b64url(await deflate('null'))}`)).rejects.toThrow(/no playground state/);
  });

  it('keeps only known fields and falls back to auto for a strange version', async () => {
    const payload = JSON.stringify({ yaml: 'a: 1\n', istio: '"><img src=x>', extra: 'dropped' });
    const state = await decodeShare(`v1.${b64url(await deflate(payload))}`);
    expect(state).toEqual({ yaml: 'a: 1\n', istio: 'auto' });
  });

  it('refuses a link that inflates beyond the limit', async () => {
    const bomb = JSON.stringify({ yaml: 'a'.repeat(MAX_DECODED_BYTES + 10), istio: 'auto' });
    const packed = await deflate(bomb);
    expect(packed.length).toBeLessThan(20_000);
    await expect(decodeShare(`v1.${b64url(packed)}`)).rejects.toThrow(/larger than/);
  });
});
