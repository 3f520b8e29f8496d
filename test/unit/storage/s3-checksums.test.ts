import { randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client, S3Storage } from '../../../src/storage/s3.ts';

/**
 * The S3 client's flexible checksums, against a real HTTP server that answers as S3 does: S3 keeps
 * a full-object CRC64NVME of every object written since 2024-12 and sends it
 * (x-amz-checksum-crc64nvme) only when the GET asks with x-amz-checksum-mode: ENABLED. s3rver
 * never sends one, so the tests and the bench could not see what asking costs: the SDK then
 * computes CRC64NVME over the whole body in JavaScript, about 50 ms of CPU for a 16 MB source
 * (twice that on the first use), every read of a source. TLS already guards the bytes in transit.
 */
describe('the S3 client', () => {
  const body = randomBytes(256 * 1024);
  const requests: { method: string; headers: IncomingHttpHeaders }[] = [];
  let server: Server;
  let endpoint: string;

  beforeAll(async () => {
    server = createServer((req, res) => {
      requests.push({ method: req.method ?? '', headers: req.headers });
      req.resume();
      req.on('end', () => {
        if (req.method === 'GET') {
          res.writeHead(200, {
            'content-type': 'image/jpeg',
            'content-length': String(body.length),
            etag: '"abc"',
            // What S3 sends when asked; a value that is not the body's checksum, so that a client
            // that validates it fails the read.
            ...(req.headers['x-amz-checksum-mode'] === 'ENABLED'
              ? { 'x-amz-checksum-crc64nvme': 'AAAAAAAAAAA=' }
              : {}),
          });
          res.end(body);
        } else {
          res.writeHead(200, { etag: '"def"' });
          res.end();
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const storage = () =>
    new S3Storage(
      createS3Client({
        endpoint,
        forcePathStyle: true,
        region: 'eu-west-1',
        credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
      }),
      'uploads',
    );

  it('reads an object without asking S3 for its checksum, so it computes none over the body', async () => {
    requests.length = 0;
    const object = await storage().get('photo.jpg');
    expect(Buffer.from(object.body).equals(body)).toBe(true);
    expect(requests).toHaveLength(1);
    expect(requests[0]!.headers).not.toHaveProperty('x-amz-checksum-mode');
  });

  it('still sends a checksum of what it writes (CRC32, computed natively)', async () => {
    requests.length = 0;
    await storage().put('out.webp', new Uint8Array(body), { contentType: 'image/webp' });
    const put = requests.find((r) => r.method === 'PUT');
    expect(put?.headers).toHaveProperty('x-amz-checksum-crc32');
  });
});
