import { describe, expect, it } from 'vitest';
import {
  DEFAULT_MEMORIES,
  parseMemories,
  parseS3Url,
  parseSweepOptions,
  QUICK_MEMORIES,
} from '../../../../bench/sweep/options.ts';
import { ConfigError } from '../../../../src/core/errors.ts';

function errorOf(argv: string[]): ConfigError {
  try {
    parseSweepOptions(argv);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error(`${argv.join(' ')} was accepted`);
}

describe('parseSweepOptions', () => {
  it('has the documented defaults', () => {
    const options = parseSweepOptions([]);
    expect(options).toMatchObject({
      memories: [...DEFAULT_MEMORIES],
      corpus: ['fixtures/photos', 'fixtures/bench'],
      runs: 2,
      strategy: 'cost',
      architecture: 'arm64',
      rps: 0,
      timeoutMargin: 3,
      headroom: 0.15,
      minPixels: 24_000_000,
      prices: {
        x86_64: 0.0000166667,
        arm64: 0.0000133334,
        requestPerMillion: 0.2,
        provisioned: { x86_64: 0.0000041667, arm64: 0.0000033334 },
        provisionedDuration: { x86_64: 0.0000097222, arm64: 0.0000077778 },
      },
      coldStartRate: 0.01,
      out: 'bench/results/sweep',
      tfvars: 'terraform/envs/dev/tuning.tfvars.json',
    });
    expect(options.aws).toBeUndefined();
  });

  it('--quick sweeps four sizes with one warm run, unless told otherwise', () => {
    expect(parseSweepOptions(['--quick'])).toMatchObject({ memories: [...QUICK_MEMORIES], runs: 1 });
    expect(parseSweepOptions(['--quick', '--runs', '3', '--memory', '2048'])).toMatchObject({
      memories: [2048],
      runs: 3,
    });
  });

  it('takes the corpus repeated or comma-separated', () => {
    expect(parseSweepOptions(['--corpus', 'a,b', '--corpus', 'c']).corpus).toEqual(['a', 'b', 'c']);
  });

  it('refuses an empty --corpus, --out or --tfvars (an unset variable) before the sweep runs', () => {
    // --corpus '' swept nothing ("no input ran"), --out '' wrote to the working directory and
    // --tfvars '' failed after the whole sweep with "ENOENT: no such file or directory, open ''".
    expect(errorOf(['--corpus', '']).message).toBe(
      'Expected a folder or image file for --corpus but received "" of type string',
    );
    expect(errorOf(['--corpus', ',', '--corpus', ' ']).setting).toBe('--corpus');
    expect(errorOf(['--out', '']).message).toBe('Expected a folder for --out but received "" of type string');
    expect(errorOf(['--tfvars', ' ']).message).toBe(
      'Expected a file path for --tfvars but received " " of type string',
    );
  });

  it('names the flag and the value it refuses, in the message shape of src/config/check.ts', () => {
    expect(errorOf(['--runs', '0']).message).toBe(
      'Expected integer between 1 and 100 for --runs but received "0" of type string',
    );
    expect(errorOf(['--headroom', '1.5']).message).toBe(
      'Expected number between 0 and 0.9 for --headroom but received "1.5" of type string',
    );
    expect(errorOf(['--strategy', 'cheap']).message).toBe(
      'Expected one of cost, speed, balanced for --strategy but received "cheap" of type string',
    );
    expect(errorOf(['--architecture', 'arm']).setting).toBe('--architecture');
    expect(errorOf(['--price-arm', 'free']).setting).toBe('--price-arm');
    // Not "between 5e-324 and 1", the smallest double, for a price of 0.
    expect(errorOf(['--price-x86', '0']).message).toBe(
      'Expected price in USD per GB-second, above 0 and at most 1 (e.g. 0.0000133334) for --price-x86 but received "0" of type string',
    );
    expect(errorOf(['--cold-start-rate', '2']).setting).toBe('--cold-start-rate');
    expect(errorOf(['--min-pixels', '500000']).message).toBe(
      'Expected integer between 1000000 and 100000000 for --min-pixels but received "500000" of type string',
    );
    expect(parseSweepOptions(['--min-pixels', '12000000']).minPixels).toBe(12_000_000);
  });

  it('takes numbers written in decimal only, as the help writes them', () => {
    // Number() reads 0x10 as 16 and 0b1 as 1: the sweep ran with a rate or weight nobody wrote.
    expect(errorOf(['--rps', '0x10']).message).toBe(
      'Expected number between 0 and 1000000 for --rps but received "0x10" of type string',
    );
    expect(errorOf(['--weight', '0b1', '--strategy', 'balanced']).setting).toBe('--weight');
    expect(errorOf(['--timeout-margin', '0o3']).setting).toBe('--timeout-margin');
    expect(errorOf(['--price-arm', '0x1']).setting).toBe('--price-arm');
    const options = parseSweepOptions([
      '--rps',
      '2.5',
      '--timeout-margin',
      '1e1',
      '--headroom',
      '.2',
      '--price-arm',
      '1.33334E-5',
      '--cold-start-rate',
      ' 0.05 ',
    ]);
    expect([
      options.rps,
      options.timeoutMargin,
      options.headroom,
      options.prices.arm64,
      options.coldStartRate,
    ]).toEqual([2.5, 10, 0.2, 0.0000133334, 0.05]);
  });

  it('takes the provisioned-concurrency prices as the on-demand ones, and names a bad one', () => {
    const { prices } = parseSweepOptions([
      '--price-provisioned-arm',
      '0.000003',
      '--price-provisioned-x86',
      '0.000004',
      '--price-provisioned-duration-arm',
      '0.000007',
      '--price-provisioned-duration-x86',
      '0.000009',
    ]);
    expect(prices.provisioned).toEqual({ arm64: 0.000003, x86_64: 0.000004 });
    expect(prices.provisionedDuration).toEqual({ arm64: 0.000007, x86_64: 0.000009 });
    const zero = errorOf(['--price-provisioned-x86', '0']);
    expect(zero.setting).toBe('--price-provisioned-x86');
    expect(zero.message).toContain('received "0"');
    expect(errorOf(['--price-provisioned-duration-arm', 'cheap']).setting).toBe(
      '--price-provisioned-duration-arm',
    );
  });

  it('refuses a function name or ARN with a version or alias, naming it', () => {
    // The sweep invokes versions of its own (Invoke with a Qualifier), which Lambda refuses for a
    // name with another qualifier, so every size failed instead of the flag being named.
    const input = ['--event-object', 's3://uploads/a.jpg'];
    for (const name of [
      'imgpipe-dev:live',
      'imgpipe-dev:$LATEST',
      '123456789012:function:imgpipe-dev:7',
      'arn:aws:lambda:eu-west-1:123456789012:function:imgpipe-dev:live',
    ]) {
      expect(errorOf(['--function', name, ...input]).message).toBe(
        `Expected a function name or ARN without a version or alias (the sweep publishes and invokes versions of its own) for --function but received ${JSON.stringify(name)} of type string`,
      );
    }
    for (const name of [
      'imgpipe-dev',
      '123456789012:function:imgpipe-dev',
      'arn:aws:lambda:eu-west-1:123456789012:function:imgpipe-dev',
      'arn:aws-cn:lambda:cn-north-1:123456789012:function:imgpipe-dev',
    ]) {
      expect(parseSweepOptions(['--function', name, ...input]).aws?.functionName).toBe(name);
    }
  });

  it('accepts --weight only with the balanced strategy', () => {
    expect(parseSweepOptions(['--strategy', 'balanced', '--weight', '0.8'])).toMatchObject({
      strategy: 'balanced',
      weight: 0.8,
    });
    expect(errorOf(['--weight', '0.8']).setting).toBe('--weight');
    expect(errorOf(['--strategy', 'balanced', '--weight', '1.2']).setting).toBe('--weight');
  });

  it('reads the AWS mode and insists on an input', () => {
    expect(
      parseSweepOptions([
        '--function',
        'arn:aws:lambda:eu-west-1:123456789012:function:imgpipe',
        '--event-object',
        's3://uploads/photos/a,b.jpg',
        '--payload',
        'event.json',
        '--delete-manifest',
      ]).aws,
    ).toEqual({
      functionName: 'arn:aws:lambda:eu-west-1:123456789012:function:imgpipe',
      payloads: ['event.json'],
      eventObjects: [{ bucket: 'uploads', key: 'photos/a,b.jpg' }],
      deleteManifest: true,
    });
    expect(errorOf(['--function', 'imgpipe']).setting).toBe('--payload');
    expect(errorOf(['--payload', 'event.json']).setting).toBe('--function');
    expect(errorOf(['--function', 'imgpipe', '--payload', 'e.json', '--corpus', 'x']).setting).toBe(
      '--corpus',
    );
  });

  it('refuses the flags of one mode in another instead of ignoring them', () => {
    const aws = ['--function', 'imgpipe', '--payload', 'e.json'];
    expect(errorOf([...aws, '--config', 'doc.json']).setting).toBe('--config');
    expect(errorOf([...aws, '--max-foreign-cpu', '0.2']).setting).toBe('--max-foreign-cpu');
    expect(errorOf([...aws, '--wait-quiet', '0']).setting).toBe('--wait-quiet');
    expect(errorOf(['--region', 'eu-west-1']).setting).toBe('--region');
    expect(errorOf(['--from', 'sweep.json', '--wait-quiet', '0']).setting).toBe('--wait-quiet');
    expect(() => parseSweepOptions([...aws, '--region', 'eu-west-1'])).not.toThrow();
    expect(() => parseSweepOptions(['--from', 'sweep.json', '--max-foreign-cpu', '0.2'])).not.toThrow();
  });

  it('names an unknown option', () => {
    expect(() => parseSweepOptions(['--memroy', '512'])).toThrow(
      'unknown option --memroy (did you mean --memory?)',
    );
  });
});

describe('parseMemories', () => {
  it('sorts and removes duplicates', () => {
    expect(parseMemories('2048, 512,1024,512')).toEqual([512, 1024, 2048]);
  });

  it('refuses sizes outside 512-10240 MB (Terraform refuses less) and names the bad part', () => {
    expect(() => parseMemories('512,12000')).toThrow(
      'Expected comma-separated integers between 512 and 10240 (MB) for --memory but received "512,12000" of type string ("12000" is not)',
    );
    expect(() => parseMemories('1g')).toThrow(/for --memory/);
    expect(() => parseMemories('256,1024')).toThrow(/received "256,1024" of type string \("256" is not\)/);
  });
});

describe('parseS3Url', () => {
  it('splits bucket and key', () => {
    expect(parseS3Url('s3://b/k/with/slashes.jpg')).toEqual({ bucket: 'b', key: 'k/with/slashes.jpg' });
    expect(() => parseS3Url('https://b/k')).toThrow(/for --event-object/);
  });
});
