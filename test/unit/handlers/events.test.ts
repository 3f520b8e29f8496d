import { describe, expect, it } from 'vitest';
import { decodeS3Key, encodeS3Key, parseS3Event } from '../../../src/handlers/events.ts';
import { objectOf } from '../../../src/handlers/tasks.ts';

/** An S3 notification as AWS documents it (event message structure, version 2.1). */
const awsSample = {
  Records: [
    {
      eventVersion: '2.1',
      eventSource: 'aws:s3',
      awsRegion: 'us-west-2',
      eventTime: '1970-01-01T00:00:00.000Z',
      eventName: 'ObjectCreated:Put',
      userIdentity: { principalId: 'AIDAJDPLRKLG7UEXAMPLE' },
      requestParameters: { sourceIPAddress: '127.0.0.1' },
      responseElements: {
        'x-amz-request-id': 'C3D13FE58DE4C810',
        'x-amz-id-2': 'FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD',
      },
      s3: {
        s3SchemaVersion: '1.0',
        configurationId: 'testConfigRule',
        bucket: {
          name: 'amzn-s3-demo-bucket',
          ownerIdentity: { principalId: 'A3NL1KOZZKExample' },
          arn: 'arn:aws:s3:::amzn-s3-demo-bucket',
        },
        object: {
          key: 'HappyFace.jpg',
          size: 1024,
          eTag: 'd41d8cd98f00b204e9800998ecf8427e',
          versionId: '096fKKXTRTtl3on89fVO.nfljtsv6qko',
          sequencer: '0055AED6DCD90281E5',
        },
      },
    },
  ],
};

describe('decodeS3Key', () => {
  it('turns + into spaces and percent-decodes UTF-8', () => {
    expect(decodeS3Key('a+b%C3%BC.jpg')).toBe('a bü.jpg');
    expect(decodeS3Key('photos/2024/x%2By.jpg')).toBe('photos/2024/x+y.jpg');
  });

  it('is the inverse of encodeS3Key for awkward keys', () => {
    for (const key of ['a b.jpg', 'ü/ß/€.png', "it's (1) & 50%+.webp", 'a/b/c'])
      expect(decodeS3Key(encodeS3Key(key))).toBe(key);
    expect(encodeS3Key('a bü.jpg')).toBe('a+b%C3%BC.jpg');
  });
});

describe('parseS3Event', () => {
  it('reads the documented S3 notification', () => {
    expect(parseS3Event(awsSample)).toEqual({
      kind: 'records',
      skipped: [],
      changes: [
        {
          kind: 'created',
          eventName: 'ObjectCreated:Put',
          object: {
            bucket: 'amzn-s3-demo-bucket',
            key: 'HappyFace.jpg',
            etag: 'd41d8cd98f00b204e9800998ecf8427e',
            size: 1024,
            versionId: '096fKKXTRTtl3on89fVO.nfljtsv6qko',
            sequencer: '0055AED6DCD90281E5',
          },
        },
      ],
    });
  });

  it('recognises the test event S3 sends when a notification is configured', () => {
    expect(
      parseS3Event({
        Service: 'Amazon S3',
        Event: 's3:TestEvent',
        Time: 't',
        Bucket: 'b',
        RequestId: 'r',
        HostId: 'h',
      }),
    ).toEqual({ kind: 'test', bucket: 'b' });
  });

  it('describes events without records instead of failing', () => {
    expect(parseS3Event({ foo: 1 })).toEqual({
      kind: 'empty',
      description: 'an event without Records (keys: foo)',
    });
    expect(parseS3Event(null)).toEqual({ kind: 'empty', description: 'an event of type object' });
  });

  it('reads removals with their sequencer, and skips other events and broken records, keeping the rest', () => {
    const record = awsSample.Records[0]!;
    const object = record.s3.object;
    const event = {
      Records: [
        {
          ...record,
          eventName: 'ObjectRemoved:Delete',
          s3: { ...record.s3, object: { key: 'HappyFace.jpg', sequencer: '0055AED6DCD90281E6' } },
        },
        { ...record, eventName: 'ObjectRestore:Completed' },
        { ...record, s3: { ...record.s3, object: { ...object, key: 'bad%E0%A4%A.jpg' } } },
        { ...record, s3: { ...record.s3, object: { ...object, sequencer: '12;DROP' } } },
        record,
      ],
    };
    const parsed = parseS3Event(event);
    if (parsed.kind !== 'records') throw new Error(parsed.kind);
    expect(parsed.changes.map((c) => [c.kind, c.object.key, c.object.sequencer])).toEqual([
      ['removed', 'HappyFace.jpg', '0055AED6DCD90281E6'],
      ['created', 'HappyFace.jpg', '0055AED6DCD90281E5'],
    ]);
    expect(parsed.skipped.map((s) => s.reason)).toEqual([
      'ObjectRestore:Completed is not an ObjectCreated or ObjectRemoved event',
      'the key "bad%E0%A4%A.jpg" is not valid URL encoding',
      'the sequencer "12;DROP" is not 1 to 64 hexadecimal digits',
    ]);
  });

  it('skips an event whose sequencer is not hexadecimal, in either shape, naming it', () => {
    // A direct invoke (or a forged event) can send anything; the status table orders events by it.
    const long = 'A'.repeat(65);
    const eventBridge = (sequencer: unknown) =>
      parseS3Event({
        source: 'aws.s3',
        'detail-type': 'Object Created',
        detail: { bucket: { name: 'b' }, object: { key: 'a.jpg', etag: 'e', sequencer } },
      });
    for (const sequencer of ['zz', ' 0A', long, 'FFFF FFFF']) {
      expect(eventBridge(sequencer), sequencer).toEqual({
        kind: 'records',
        changes: [],
        skipped: [
          {
            index: 0,
            reason: `the sequencer ${JSON.stringify(sequencer)} is not 1 to 64 hexadecimal digits`,
            eventName: 'ObjectCreated:EventBridge',
            bucket: 'b',
            key: 'a.jpg',
          },
        ],
      });
    }
    expect(eventBridge('617f08299329d189')).toMatchObject({
      changes: [{ object: { sequencer: '617f08299329d189' } }],
    });
    const record = awsSample.Records[0]!;
    const notification = parseS3Event({
      Records: [{ ...record, s3: { ...record.s3, object: { ...record.s3.object, sequencer: long } } }],
    });
    expect(notification).toMatchObject({
      changes: [],
      skipped: [{ reason: `the sequencer "${long}" is not 1 to 64 hexadecimal digits` }],
    });
  });

  it("refuses a task's object whose sequencer is not hexadecimal, naming it", () => {
    const object = { bucket: 'b', key: 'a.jpg', sequencer: '12;DROP' };
    expect(() => objectOf({ object })).toThrow(
      'input.object.sequencer: the sequencer "12;DROP" is not 1 to 64 hexadecimal digits',
    );
    expect(objectOf({ object: { ...object, sequencer: '0A' } })).toEqual({ ...object, sequencer: '0A' });
  });

  it('reads EventBridge Object Created and Object Deleted events', () => {
    const deleted = parseS3Event({
      source: 'aws.s3',
      'detail-type': 'Object Deleted',
      detail: { bucket: { name: 'b' }, object: { key: 'a b.jpg', sequencer: '617F08299329D189' } },
    });
    expect(deleted).toEqual({
      kind: 'records',
      skipped: [],
      changes: [
        {
          kind: 'removed',
          eventName: 'ObjectRemoved:EventBridge',
          object: { bucket: 'b', key: 'a b.jpg', sequencer: '617F08299329D189' },
        },
      ],
    });
  });
});
