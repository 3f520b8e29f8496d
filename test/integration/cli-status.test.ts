import { mkdtempSync, readFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeItem, parseObject, parseSince } from '../../src/cli/status.ts';
import { runCli, startCli } from '../support/cli.ts';

/** Whether text holds a control character other than a line break (an escape sequence, a bell). */
const hasControl = (text: string) =>
  [...text].some((c) => {
    const code = c.codePointAt(0)!;
    return (code < 0x20 && code !== 0x0a) || (code >= 0x7f && code <= 0x9f);
  });

/**
 * `imgpipe status` against `imgpipe dev`'s status table (DynamoDB's API from dynalite), as a user
 * runs both: the real binary, over HTTP.
 */
describe('imgpipe status', () => {
  it("tells why an upload was quarantined, in one command, from imgpipe dev's table", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'imgpipe-status-cli-'));
    const { child, output } = await startCli(
      ['dev', '--port', '0', '--dir', join(dir, 'data')],
      /Watching for uploads/,
    );
    try {
      const endpoint = output().match(/Status table imgpipe-status at (http:\/\/127\.0\.0\.1:\d+)/)![1]!;
      const why = await runCli([
        'status',
        's3://imgpipe-source/samples/text-named.jpg',
        '--endpoint',
        endpoint,
      ]);
      expect(why.code).toBe(0);
      expect(why.stdout).toMatch(/^s3:\/\/imgpipe-source\/samples\/text-named\.jpg: quarantined$/m);
      expect(why.stdout).toMatch(/reason\s+unsupported-format/);
      expect(why.stdout).toMatch(/message\s+The file's content is text/);

      const processed = await runCli([
        'status',
        'imgpipe-source/samples/portrait-friends-dogs.jpg',
        '--endpoint',
        endpoint,
        '--json',
      ]);
      expect(JSON.parse(processed.stdout)).toMatchObject({
        status: 'processed',
        format: 'jpeg',
        width: 1065,
        height: 1600,
        outputs: 9,
        manifestKey: 'manifests/samples/portrait-friends-dogs.jpg.json',
      });

      const listed = await runCli(['status', '--quarantined', '--since', '1h', '--endpoint', endpoint]);
      expect(listed.stdout).toMatch(/s3:\/\/imgpipe-source\/samples\/text-named\.jpg .*unsupported-format/);
      expect((await runCli(['status', '--failed', '--endpoint', endpoint])).stdout).toMatch(
        /No failed objects/,
      );

      const missing = await runCli(['status', 's3://imgpipe-source/never.jpg', '--endpoint', endpoint]);
      expect([missing.code, missing.stdout]).toEqual([1, expect.stringMatching(/no status recorded/)]);

      // A table that is not there is a usage error naming it; it was "imgpipe: StorageError: DynamoDB
      // list of byStatus/failed in imgpipe-staus failed (ResourceNotFoundException): Requested
      // resource not found", exit 1, with the stack to ask for.
      for (const args of [['--failed'], ['s3://imgpipe-source/samples/text-named.jpg']]) {
        const mistyped = await runCli([
          'status',
          ...args,
          '--table',
          'imgpipe-staus',
          '--endpoint',
          endpoint,
        ]);
        expect([mistyped.code, mistyped.stdout, mistyped.stderr.split('\n')[0]], args[0]).toEqual([
          2,
          '',
          `imgpipe status: table imgpipe-staus does not exist at ${endpoint}: check --table or IMGPIPE_STATUS_TABLE (terraform output status_table_name; imgpipe dev's is imgpipe-status)`,
        ]);
      }

      // The outcome events of the samples, as EventBridge rules would receive them.
      const events = readFileSync(join(dir, 'data', 'events.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line));
      expect(events.map((e) => e['detail-type']).sort()).toEqual([
        ...Array(5).fill('Image Processed'),
        'Image Quarantined',
      ]);
    } finally {
      const exited = new Promise((resolve) => child.on('exit', resolve));
      child.kill('SIGINT');
      await exited;
    }
  }, 300_000);

  it('refuses what it cannot read, in one line', async () => {
    const both = await runCli(['status', 's3://b/k.jpg', '--failed']);
    expect([both.code, both.stderr]).toEqual([
      2,
      expect.stringContaining('give an object or --failed, not both'),
    ]);
    const bad = await runCli(['status', 'not a location']);
    expect([bad.code, bad.stderr]).toEqual([2, expect.stringContaining('expected s3://<bucket>/<key>')]);
  });

  it('says that nobody answers at --endpoint, and asks whether imgpipe dev runs there', async () => {
    // It was "imgpipe: StorageError: DynamoDB list of byStatus/failed in imgpipe-status failed
    // (Error): connect ECONNREFUSED 127.0.0.1:9" and "Run again with --verbose".
    const port = await closedPort();
    for (const args of [['--failed'], ['s3://imgpipe-source/a.jpg']]) {
      const run = await runCli(['status', ...args, '--endpoint', `http://127.0.0.1:${port}`]);
      expect([run.code, run.stdout, run.stderr.trimEnd().split('\n')], args[0]).toEqual([
        1,
        '',
        [
          `imgpipe status: cannot reach --endpoint http://127.0.0.1:${port} (ECONNREFUSED): is imgpipe dev running there? It prints its status table's endpoint when it starts`,
        ],
      ]);
    }
  });

  it('says what AWS setting is missing, a region or credentials, as imgpipe reprocess does', async () => {
    // Each was a StorageError: "DynamoDB get of k.jpg in imgpipe-prod-status failed (Error): Region
    // is missing", or "(CredentialsProviderError): Could not load credentials from any providers".
    const none = mkdtempSync(join(tmpdir(), 'imgpipe-no-aws-'));
    // Nothing of the machine's own AWS setup either: a container's or a pod's credentials (ECS,
    // CodeBuild, EKS) are found before any message about missing ones, and HOME holds ~/.aws.
    const env = {
      HOME: none,
      AWS_CONTAINER_CREDENTIALS_FULL_URI: undefined,
      AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: undefined,
      AWS_WEB_IDENTITY_TOKEN_FILE: undefined,
      AWS_ROLE_ARN: undefined,
      AWS_REGION: undefined,
      AWS_DEFAULT_REGION: undefined,
      AWS_PROFILE: undefined,
      AWS_ACCESS_KEY_ID: undefined,
      AWS_SECRET_ACCESS_KEY: undefined,
      AWS_SESSION_TOKEN: undefined,
      AWS_CONFIG_FILE: join(none, 'config'),
      AWS_SHARED_CREDENTIALS_FILE: join(none, 'credentials'),
      AWS_EC2_METADATA_DISABLED: 'true',
    };
    const args = ['status', 's3://imgpipe-prod-source/k.jpg', '--table', 'imgpipe-prod-status'];
    const region = await runCli(args, { env });
    expect([region.code, region.stdout, region.stderr.trimEnd().split('\n')]).toEqual([
      1,
      '',
      [
        'imgpipe status: no AWS region for the status table imgpipe-prod-status: set AWS_REGION (or AWS_PROFILE with a region), or give --endpoint for imgpipe dev',
      ],
    ]);
    const credentials = await runCli(args, { env: { ...env, AWS_REGION: 'eu-west-1' } });
    expect([credentials.code, credentials.stdout, credentials.stderr.trimEnd().split('\n')]).toEqual([
      1,
      '',
      [
        'imgpipe status: no AWS credentials found: set AWS_PROFILE (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), or run aws sso login; for imgpipe dev give --endpoint',
      ],
    ]);
  });

  it('refuses a table name DynamoDB cannot have, naming --table or IMGPIPE_STATUS_TABLE and the value', async () => {
    // It was DynamoDB's "1 validation error detected: Value 'ab' at 'tableName' failed to satisfy
    // constraint", exit 1, after the request (none is made now: nobody listens on port 9).
    const endpoint = ['--endpoint', 'http://127.0.0.1:9'];
    for (const [args, env, named, value] of [
      [['--table', 'ab'], {}, '--table', 'ab'],
      [['--table', 'my table'], {}, '--table', 'my table'],
      [[], { IMGPIPE_STATUS_TABLE: 'prod/status' }, 'IMGPIPE_STATUS_TABLE', 'prod/status'],
    ] as const) {
      const run = await runCli(['status', '--failed', ...args, ...endpoint], { env });
      expect([run.code, run.stderr.split('\n')[0]], value).toEqual([
        2,
        `imgpipe status: Expected a DynamoDB table name (3 to 255 letters, digits, _, - and .) or its ARN for ${named} but received ${JSON.stringify(value)}`,
      ]);
    }
  });

  it('refuses an --endpoint that is no URL as a usage error naming it, as imgpipe reprocess does', async () => {
    // It was "imgpipe: StorageError: DynamoDB list of byStatus/failed in imgpipe-status failed
    // (TypeError): Invalid URL", exit 1, naming neither the option nor the value.
    for (const endpoint of ['127.0.0.1:4569', 'notaurl', 'http://127.0.0.1:4569/table']) {
      const run = await runCli(['status', '--failed', '--endpoint', endpoint]);
      expect([run.code, run.stderr.split('\n')[0]], endpoint).toEqual([
        2,
        `imgpipe status: Expected a URL such as http://127.0.0.1:4569 for --endpoint but received ${JSON.stringify(endpoint)}`,
      ]);
    }
  });
});

describe('status arguments', () => {
  it('reads s3:// and bucket/key locations, and relative or absolute times', () => {
    expect(parseObject('s3://uploads/a/b c.jpg')).toEqual({ bucket: 'uploads', key: 'a/b c.jpg' });
    expect(parseObject('uploads/x.png')).toEqual({ bucket: 'uploads', key: 'x.png' });
    // S3 keys may hold line breaks (imgpipe status lists them as \n): such a key was refused as
    // "expected s3://<bucket>/<key>", the form it was given in.
    expect(parseObject('s3://uploads/a\nb.jpg')).toEqual({ bucket: 'uploads', key: 'a\nb.jpg' });
  });

  it('says what is wrong with a location: the bucket name, or no key', () => {
    expect(() => parseObject('s3://Uploads/a.jpg')).toThrow(
      'expected s3://<bucket>/<key> or <bucket>/<key>, not "s3://Uploads/a.jpg": "Uploads" is not a bucket name (3-63 lowercase letters, digits, dots and hyphens)',
    );
    expect(() => parseObject('s3://uploads/')).toThrow(
      'expected s3://<bucket>/<key> or <bucket>/<key>, not "s3://uploads/": no key after the bucket uploads',
    );
    expect(() => parseObject('s3://uploads')).toThrow(
      'expected s3://<bucket>/<key> or <bucket>/<key>, not "s3://uploads": no key after the bucket uploads',
    );
    const now = new Date('2026-11-30T12:00:00Z');
    expect(parseSince('1d', now).toISOString()).toBe('2026-11-29T12:00:00.000Z');
    expect(parseSince('30m', now).toISOString()).toBe('2026-11-30T11:30:00.000Z');
    expect(parseSince('2026-11-01', now).toISOString()).toBe('2026-11-01T00:00:00.000Z');
    expect(parseSince('2026-11-01T10:00:00+02:00', now).toISOString()).toBe('2026-11-01T08:00:00.000Z');
    expect(() => parseSince('yesterday', now)).toThrow(/--since takes 30m, 12h, 1d, 2w or an ISO date/);
  });

  it('refuses a day the month does not have and a time past 23:59:59, instead of the days after', () => {
    const now = new Date('2026-11-30T12:00:00Z');
    for (const text of ['2026-11-31', '2026-02-29', '2026-02-30T10:00Z', '2026-12-01T24:00', '2026-00-10'])
      expect(() => parseSince(text, now), text).toThrow(
        `--since takes 30m, 12h, 1d, 2w or an ISO date, not ${JSON.stringify(text)}`,
      );
    expect(parseSince('2028-02-29', now).toISOString()).toBe('2028-02-29T00:00:00.000Z');
    expect(parseSince('0001-01-01T00:00:00Z', now).toISOString()).toBe('0001-01-01T00:00:00.000Z');
    expect(parseSince('2026-11-30T23:59:59Z', now).toISOString()).toBe('2026-11-30T23:59:59.000Z');
  });

  it('refuses a number without its unit instead of reading it as a year or a month', () => {
    const now = new Date('2026-11-30T12:00:00Z');
    for (const text of ['12', '7', '0', '1 2', 'May 5'])
      expect(() => parseSince(text, now), text).toThrow(
        `--since takes 30m, 12h, 1d, 2w or an ISO date, not ${JSON.stringify(text)}`,
      );
  });
});

describe('imgpipe status mistakes', () => {
  it.each(['--since', '--limit'])(
    'refuses %s with one object, which it would ignore, before asking the table',
    async (flag) => {
      // Nobody listens on port 9: a usage error is found before any request.
      const run = await runCli([
        'status',
        's3://imgpipe-source/a.jpg',
        flag,
        flag === '--since' ? '1d' : '5',
        '--endpoint',
        'http://127.0.0.1:9',
      ]);
      expect(run.code).toBe(2);
      expect(run.stderr.split('\n')[0]).toBe(
        `imgpipe status: ${flag} is for a listing (--failed, --quarantined, --processing), not one object: give s3://imgpipe-source/a.jpg without it`,
      );
    },
  );
});

describe('imgpipe status output', () => {
  it("escapes the control characters of an uploader's key and of a message, which would drive the terminal", () => {
    const text = describeItem({
      bucket: 'uploads',
      key: 'x\x1b[1A\x1b[2Kprocessed.jpg',
      status: 'quarantined',
      reason: 'corrupt',
      message: 'bad\x1b]0;title\x07',
      attempts: 1,
      firstSeenAt: '2026-01-01T00:00:00.000Z',
      updatedAt: '2026-01-01T00:00:00.000Z',
    });
    expect(hasControl(text)).toBe(false);
    expect(text.split('\n')[0]).toBe('s3://uploads/x\\x1b[1A\\x1b[2Kprocessed.jpg: quarantined');
    expect(text).toContain('bad\\x1b]0;title\\x07');
  });

  it('says that the encode time is a sum over encodes, which run in parallel and can pass the total', () => {
    const text = describeItem({
      bucket: 'uploads',
      key: 'a.jpg',
      status: 'processed',
      attempts: 1,
      timings: { probe: 1, decode: 40, resize: 10, encode: 900, total: 500 },
      firstSeenAt: '2026-01-01T00:00:00.000Z',
      updatedAt: '2026-01-01T00:00:00.000Z',
    });
    const line = text.split('\n').find((row) => row.includes('timings'));
    expect(line).toMatch(/encode 900 ms \(summed over encodes\), total 500 ms$/);
  });
});

/** A port nobody listens on: one the system gave a server that is closed again. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
