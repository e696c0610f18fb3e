import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Digest, DigestError, type DigestErrorCode } from '../../core/identity/digest.ts';

const SHA256_EMPTY = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const BLAKE3_EMPTY = 'af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262';

function parseError(text: string): DigestErrorCode | 'no error' {
  try {
    Digest.parse(text);
    return 'no error';
  } catch (error) {
    if (error instanceof DigestError) return error.code;
    throw error;
  }
}

describe('Digest.parse / toString', () => {
  it.each([
    ['blake3', BLAKE3_EMPTY],
    ['sha256', SHA256_EMPTY],
  ])('parses %s and formats it back unchanged', (algorithm, hex) => {
    const text = `${algorithm}:${hex}`;
    const digest = Digest.parse(text);
    expect(digest.algorithm).toBe(algorithm);
    expect(digest.hex).toBe(hex);
    expect(digest.toString()).toBe(text);
    expect(JSON.stringify({ digest })).toBe(JSON.stringify({ digest: text }));
    expect(Digest.isValid(text)).toBe(true);
    expect(Object.isFrozen(digest)).toBe(true);
  });

  it.each<[string, string, DigestErrorCode]>([
    ['upper-case hex', `sha256:${SHA256_EMPTY.toUpperCase()}`, 'malformed-digest'],
    ['one upper-case hex digit', `blake3:${BLAKE3_EMPTY.slice(0, 63)}F`, 'malformed-digest'],
    ['upper-case algorithm', `SHA256:${SHA256_EMPTY}`, 'unknown-algorithm'],
    ['hex one character short', `sha256:${SHA256_EMPTY.slice(1)}`, 'malformed-digest'],
    ['hex one character long', `sha256:${SHA256_EMPTY}0`, 'malformed-digest'],
    ['empty hex', 'blake3:', 'malformed-digest'],
    ['non-hex character', `sha256:${SHA256_EMPTY.slice(0, 63)}g`, 'malformed-digest'],
    ['unknown algorithm', `md5:${'0'.repeat(32)}`, 'unknown-algorithm'],
    ['unknown algorithm with a valid length', `sha512:${SHA256_EMPTY}`, 'unknown-algorithm'],
    ['leading space', ` sha256:${SHA256_EMPTY}`, 'unknown-algorithm'],
    ['trailing space', `sha256:${SHA256_EMPTY} `, 'malformed-digest'],
    ['trailing newline', `sha256:${SHA256_EMPTY}\n`, 'malformed-digest'],
    ['space after the colon', `sha256: ${SHA256_EMPTY}`, 'malformed-digest'],
    ['space before the colon', `sha256 :${SHA256_EMPTY}`, 'unknown-algorithm'],
    ['missing colon', `sha256${SHA256_EMPTY}`, 'malformed-digest'],
    ['bare hex', SHA256_EMPTY, 'malformed-digest'],
    ['empty algorithm', `:${SHA256_EMPTY}`, 'malformed-digest'],
    ['empty string', '', 'malformed-digest'],
    ['two colons', `sha256::${SHA256_EMPTY}`, 'malformed-digest'],
    ['other separator', `sha256-${SHA256_EMPTY}`, 'malformed-digest'],
  ])('rejects %s', (_label, text, code) => {
    expect(parseError(text)).toBe(code);
    expect(Digest.isValid(text)).toBe(false);
  });

  it('rejects bytes of the wrong length', () => {
    expect(() => Digest.fromBytes('sha256', new Uint8Array(31))).toThrow(DigestError);
    expect(() => Digest.fromBytes('blake3', new Uint8Array(33))).toThrow(DigestError);
  });

  it('reads bytes from a view with an offset', () => {
    const backing = new Uint8Array(40).fill(0xab);
    const digest = Digest.fromBytes('blake3', backing.subarray(4, 36));
    expect(digest.hex).toBe('ab'.repeat(32));
  });

  it('round-trips any 32 bytes through bytes → string → parse', () => {
    fc.assert(
      fc.property(fc.constantFrom('blake3', 'sha256'), fc.uint8Array({ minLength: 32, maxLength: 32 }), (algorithm, bytes) => {
        const digest = Digest.fromBytes(algorithm, bytes);
        const parsed = Digest.parse(digest.toString());
        expect(parsed.equals(digest)).toBe(true);
        expect(parsed.bytes()).toEqual(bytes);
        expect(parsed.hex).toMatch(/^[0-9a-f]{64}$/);
      }),
    );
  });

  it('equals compares algorithm and bytes', () => {
    const a = Digest.fromHex('sha256', SHA256_EMPTY);
    expect(a.equals(Digest.parse(`sha256:${SHA256_EMPTY}`))).toBe(true);
    expect(a.equals(Digest.fromHex('blake3', SHA256_EMPTY))).toBe(false);
    expect(a.equals(Digest.fromHex('sha256', BLAKE3_EMPTY))).toBe(false);
  });
});
