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

  it('reads the S3 events SQS messages and SNS notifications carry, and names what carries none', () => {
    // S3 -> SQS -> Lambda, S3 -> SNS -> Lambda and S3 -> SNS -> SQS -> Lambda, as AWS delivers them
    // (Lambda's SQS and SNS event shapes): these records were "not an S3 record", acknowledged
    // unprocessed, and SQS then deleted the messages.
    const sqs = (body: string, messageId = '059f36b4-87a3-44ab-83d2-661975830a7d') => ({
      messageId,
      receiptHandle: 'AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a...',
      body,
      attributes: { ApproximateReceiveCount: '1', SentTimestamp: '1545082649183' },
      messageAttributes: {},
      md5OfBody: '098f6bcd4621d373cade4e832627b4f6',
      eventSource: 'aws:sqs',
      eventSourceARN: 'arn:aws:sqs:us-east-1:111122223333:my-queue',
      awsRegion: 'us-east-1',
    });
    const snsNotification = (message: string) => ({
      Type: 'Notification',
      MessageId: '95df01b4-ee98-5cb9-9903-4c221d41eb5e',
      TopicArn: 'arn:aws:sns:us-east-1:111122223333:uploads',
      Message: message,
      Timestamp: '2019-01-02T12:45:07.000Z',
    });
    const sns = (message: string) => ({
      EventVersion: '1.0',
      EventSubscriptionArn: 'arn:aws:sns:us-east-1:111122223333:uploads:2bcfbf39',
      EventSource: 'aws:sns',
      Sns: { ...snsNotification(message), SignatureVersion: '1', Signature: 'EXAMPLE' },
    });
    const removed = {
      Records: [{ ...awsSample.Records[0]!, eventName: 'ObjectRemoved:Delete' }],
    };
    const eventBridge = {
      source: 'aws.s3',
      'detail-type': 'Object Created',
      detail: { bucket: { name: 'eb-bucket' }, object: { key: 'from eventbridge.jpg', etag: 'e1' } },
    };
    const parsed = parseS3Event({
      Records: [
        sqs(JSON.stringify(awsSample)),
        sqs(JSON.stringify(snsNotification(JSON.stringify(removed)))),
        sqs(JSON.stringify(eventBridge)),
        sqs(JSON.stringify({ Event: 's3:TestEvent', Bucket: 'b' }), 'test-message'),
        sqs('not json', 'broken-message'),
      ],
    });
    if (parsed.kind !== 'records') throw new Error(parsed.kind);
    expect(
      parsed.changes.map((c) => [c.kind, c.eventName, c.object.bucket, c.object.key, c.object.etag]),
    ).toEqual([
      [
        'created',
        'ObjectCreated:Put',
        'amzn-s3-demo-bucket',
        'HappyFace.jpg',
        'd41d8cd98f00b204e9800998ecf8427e',
      ],
      [
        'removed',
        'ObjectRemoved:Delete',
        'amzn-s3-demo-bucket',
        'HappyFace.jpg',
        'd41d8cd98f00b204e9800998ecf8427e',
      ],
      ['created', 'ObjectCreated:EventBridge', 'eb-bucket', 'from eventbridge.jpg', 'e1'],
    ]);
    expect(parsed.changes[0]!.object.sequencer).toBe('0055AED6DCD90281E5');
    expect(parsed.skipped).toEqual([
      { index: 3, reason: 'the SQS message test-message carrying s3:TestEvent' },
      {
        index: 4,
        reason:
          'the SQS message broken-message that carries no S3 event (a body that is not JSON: "not json")',
      },
    ]);

    const viaSns = parseS3Event({ Records: [sns(JSON.stringify(awsSample))] });
    if (viaSns.kind !== 'records') throw new Error(viaSns.kind);
    expect(viaSns.changes.map((c) => c.object.key)).toEqual(['HappyFace.jpg']);
    // An S3 record inside an envelope is read with S3's key encoding, as a direct one.
    const encoded = structuredClone(awsSample);
    encoded.Records[0]!.s3.object.key = 'a+b%C3%BC.jpg';
    const wrapped = parseS3Event({ Records: [sqs(JSON.stringify(encoded))] });
    expect(wrapped.kind === 'records' && wrapped.changes[0]!.object.key).toBe('a bü.jpg');
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
