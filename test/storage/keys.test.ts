// Key grammar and the content-key layout: the parts of the storage contract that need no backend.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Digest } from '../../core/identity/digest.ts';
import { StorageError } from '../../data-plane/storage/errors.ts';
import { contentKey, KEY_LAYOUT_VERSION, MAX_KEY_LENGTH, parseContentKey, validateKey } from '../../data-plane/storage/keys.ts';

const segment = fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,20}$/);

describe('validateKey', () => {
  it('accepts slash-joined lower-case segments', () => {
    fc.assert(
      fc.property(fc.array(segment, { minLength: 1, maxLength: 8 }), (segments) => {
        const key = segments.join('/');
        expect(validateKey(key)).toBe(key);
      }),
    );
  });

  it.each(['', '/a', 'a/', 'a//b', '.', '..', 'a/..', './a', '../x', 'a/../../b', '.staging/x', 'A', 'a\\b', 'a\u0000b', 'a\tb', 'a b', 'a:b', 'a%2fb', 'x'.repeat(256), `a/${'x'.repeat(256)}/b`])(
    'rejects %j with invalid-key',
    (key) => {
      expect(() => validateKey(key)).toThrow(StorageError);
      try {
        validateKey(key);
      } catch (error) {
        expect((error as StorageError).code).toBe('invalid-key');
      }
    },
  );

  it('rejects keys longer than the limit', () => {
    expect(() => validateKey(Array.from({ length: 200 }, () => 'abcdef').join('/'))).toThrow(/longer than/);
    expect(validateKey('a'.repeat(255) + '/b').length).toBeLessThanOrEqual(MAX_KEY_LENGTH);
  });

  it('keeps control characters out of its message', () => {
    expect(() => validateKey('a\u0000b')).toThrow('"a\\u0000b"');
  });
});

describe('contentKey', () => {
  it('fans out by the first two bytes of the digest (layout version 1)', () => {
    const hex = 'abcd' + '0'.repeat(60);
    expect(KEY_LAYOUT_VERSION).toBe(1);
    expect(contentKey(Digest.fromHex('blake3', hex))).toBe(`blake3/ab/cd/${hex}`);
  });

  it('round-trips through parseContentKey and always yields a valid key', () => {
    fc.assert(
      fc.property(fc.constantFrom('blake3', 'sha256'), fc.uint8Array({ minLength: 32, maxLength: 32 }), (algorithm, bytes) => {
        const digest = Digest.fromBytes(algorithm, bytes);
        const key = validateKey(contentKey(digest));
        expect(parseContentKey(key)?.equals(digest)).toBe(true);
      }),
    );
  });

  it.each(['blake3/ab/cd', `blake3/ab/ce/abcd${'0'.repeat(60)}`, `md5/ab/cd/abcd${'0'.repeat(60)}`, `blake3/ab/cd/abcd${'0'.repeat(59)}`, 'list/a/1/2'])(
    'parseContentKey ignores %s, which is not a content key',
    (key) => {
      expect(parseContentKey(key)).toBeUndefined();
    },
  );
});

describe('StorageError', () => {
  it('passes StorageErrors through, maps abort errors and keeps the cause', () => {
    const original = new StorageError('integrity', 'bad');
    expect(StorageError.from(original)).toBe(original);

    const abort = StorageError.from(new DOMException('stop', 'AbortError'));
    expect(abort.code).toBe('aborted');

    const cause = new Error('boom');
    const wrapped = StorageError.from(cause, 'unavailable');
    expect(wrapped.code).toBe('unavailable');
    expect(wrapped.cause).toBe(cause);
  });
});
