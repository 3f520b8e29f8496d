import { copyFileSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { getNamespace, Segment } from 'aws-xray-sdk-core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { buildS3Notification } from '../../../src/cli/local-s3.ts';
import { loadRuntimeConfig } from '../../../src/config/index.ts';
import { createS3EventHandler } from '../../../src/handlers/s3-event.ts';
import { FsStorage } from '../../../src/storage/fs.ts';
import { fixturePath } from '../../support/fixtures.ts';

/**
 * X-Ray as Powertools Tracer sees it inside Lambda: tracing is on when AWS_EXECUTION_ENV is set, and
 * Lambda provides the facade segment, which the test provides here (no daemon: segments are not
 * sent anywhere the test looks).
 */
describe('tracing', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('wraps each invocation in a subsegment, with the pipeline stage inside it', async () => {
    vi.stubEnv('AWS_EXECUTION_ENV', 'AWS_Lambda_nodejs24.x');
    vi.stubEnv('AWS_XRAY_CONTEXT_MISSING', 'IGNORE_ERROR');
    vi.stubEnv('AWS_XRAY_DAEMON_ADDRESS', '127.0.0.1:9');
    const root = mkdtempSync(join(tmpdir(), 'imgpipe-trace-'));
    mkdirSync(join(root, 'src'));
    copyFileSync(fixturePath('photos/colour-fig-red-bowl.jpg'), join(root, 'src', 'a.jpg'));
    const tracer = new Tracer({ serviceName: 'imgpipe-test' });
    expect(tracer.isTracingEnabled()).toBe(true);
    const facade = new Segment('imgpipe-test-facade');
    // Lambda runs the handler inside X-Ray's context, holding the facade segment; so does the test.
    await getNamespace().runPromise(async () => {
      tracer.setSegment(facade);
      const handler = createS3EventHandler({
        config: loadRuntimeConfig({
          IMGPIPE_OUTPUT_BUCKET: join(root, 'out'),
          IMGPIPE_CONFIG: JSON.stringify({ variants: [{ name: 's', width: 64 }], formats: { webp: {} } }),
        }),
        sourceStorage: (bucket) => new FsStorage(bucket),
        output: new FsStorage(join(root, 'out')),
        quarantine: new FsStorage(join(root, 'out')),
        logger: new Logger({ serviceName: 'imgpipe-test', logLevel: 'CRITICAL' }),
        metrics: new Metrics({ serviceName: 'imgpipe-test', namespace: 'imgpipe-test' }),
        tracer,
      });
      vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'true');
      const { records } = await handler(buildS3Notification({ bucket: join(root, 'src'), key: 'a.jpg' }));
      expect(records[0]?.status).toBe('processed');
      const invocation = facade.subsegments?.find((s) => s.name.startsWith('## '));
      expect((invocation as unknown as { annotations: Record<string, unknown> }).annotations).toMatchObject({
        ColdStart: expect.any(Boolean),
        Service: 'imgpipe-test',
      });
      expect(invocation?.subsegments?.map((s) => s.name)).toContain('### processImage');
      expect(tracer.getSegment()).toBe(facade);
    });
  });
});
