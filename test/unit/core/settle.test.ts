import { describe, expect, it } from 'vitest';
import { StorageError } from '../../../src/core/errors.ts';
import { settleAll } from '../../../src/core/settle.ts';

const settlesIn = <T>(ms: number, run: () => T) =>
  new Promise<T>((resolve, reject) =>
    setTimeout(() => {
      try {
        resolve(run());
      } catch (error) {
        reject(error);
      }
    }, ms),
  );

describe('settleAll', () => {
  it('gives every value in order when nothing fails', async () => {
    expect(
      await settleAll([settlesIn(20, () => 'a'), settlesIn(5, () => 'b'), Promise.resolve('c')]),
    ).toEqual(['a', 'b', 'c']);
  });

  it('throws a permanent failure before a retryable one, whatever their order, once all have ended', async () => {
    const retryable = new StorageError('put', 's3://b/a', 'S3 put of s3://b/a failed (SlowDown)', {
      retryable: true,
    });
    const permanent = new StorageError('put', 's3://b/b', 'S3 put of s3://b/b failed (AccessDenied)', {
      retryable: false,
    });
    let ended = false;
    const error = await settleAll([
      settlesIn(1, () => {
        throw retryable;
      }),
      settlesIn(10, () => {
        throw permanent;
      }),
      settlesIn(40, () => {
        ended = true;
      }),
    ]).catch((e: unknown) => e);
    expect(error).toBe(permanent);
    expect(ended).toBe(true);
  });

  it('throws the first failure in the order given when none says it is permanent', async () => {
    const first = new Error('first');
    const error = await settleAll([
      settlesIn(10, () => {
        throw first;
      }),
      settlesIn(1, () => {
        throw new Error('second, earlier');
      }),
    ]).catch((e: unknown) => e);
    expect(error).toBe(first);
  });
});
