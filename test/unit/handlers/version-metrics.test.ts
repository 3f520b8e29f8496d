import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { buildS3Notification } from '../../../src/cli/local-s3.ts';
import { loadRuntimeConfig } from '../../../src/config/index.ts';
import { createS3EventHandler } from '../../../src/handlers/s3-event.ts';
import { FsStorage } from '../../../src/storage/fs.ts';
import { fixturePath } from '../../support/fixtures.ts';

type Emf = Record<string, unknown> & {
  _aws: { CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string }[] }[] };
};

/** The EMF lines Powertools writes to stdout while `run` runs (what CloudWatch turns into metrics). */
async function emfLines(run: () => Promise<unknown>): Promise<Emf[]> {
  const lines: Emf[] = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    for (const line of String(chunk).split('\n')) {
      if (!line.trim().startsWith('{')) continue;
      const parsed = JSON.parse(line);
      if (parsed._aws) lines.push(parsed);
    }
    return true;
  });
  try {
    await run();
    return lines;
  } finally {
    vi.restoreAllMocks();
  }
}

/** Each metric value with the dimension sets its line declares: `Name [dims] = value`. */
const metricsOf = (lines: Emf[]) =>
  lines.flatMap((line) =>
    line._aws.CloudWatchMetrics.flatMap((directive) =>
      directive.Metrics.map(
        ({ Name }) =>
          `${Name} ${JSON.stringify(directive.Dimensions.map((set) => set.map((d) => `${d}=${line[d]}`)))} = ${line[Name]}`,
      ),
    ),
  );

function handler(root: string, functionVersion?: string) {
  return createS3EventHandler({
    config: loadRuntimeConfig({
      IMGPIPE_OUTPUT_BUCKET: join(root, 'out'),
      IMGPIPE_QUARANTINE_BUCKET: join(root, 'rejected'),
      IMGPIPE_CONFIG: JSON.stringify({ variants: [{ name: 's', width: 64 }], formats: { webp: {} } }),
    }),
    sourceStorage: (bucket) => new FsStorage(bucket),
    output: new FsStorage(join(root, 'out')),
    quarantine: new FsStorage(join(root, 'rejected')),
    logger: new Logger({ serviceName: 'imgpipe-test', logLevel: 'CRITICAL' }),
    metrics: new Metrics({ serviceName: 'imgpipe-test', namespace: 'imgpipe-test' }),
    ...(functionVersion ? { functionVersion } : {}),
  });
}

function sources(): string {
  const root = mkdtempSync(join(tmpdir(), 'imgpipe-version-metrics-'));
  mkdirSync(join(root, 'src'));
  copyFileSync(fixturePath('photos/colour-fig-red-bowl.jpg'), join(root, 'src', 'a.jpg'));
  writeFileSync(join(root, 'src', 'notes.txt'), 'not an image\n');
  return root;
}

describe('outcome metrics per function version', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('counts each outcome under service, and again under service and version', async () => {
    const root = sources();
    const run = handler(root, '42');
    const lines = await emfLines(async () => {
      await run(buildS3Notification({ bucket: join(root, 'src'), key: 'a.jpg' }));
      await run(buildS3Notification({ bucket: join(root, 'src'), key: 'notes.txt' }));
    });
    const metrics = metricsOf(lines);
    const service = '[["service=imgpipe-test"]]';
    const versioned = '[["service=imgpipe-test","version=42"]]';
    expect(metrics).toContain(`ObjectsProcessed ${service} = 1`);
    expect(metrics).toContain(`ObjectsProcessed ${versioned} = 1`);
    expect(metrics).toContain(`ObjectsQuarantined ${service} = 1`);
    expect(metrics).toContain(`ObjectsQuarantined ${versioned} = 1`);
    // Only the outcome counts carry the version: stage times stay one series per service.
    expect(
      metrics
        .filter((m) => m.includes('version='))
        .map((m) => m.split(' ')[0])
        .sort(),
    ).toEqual(['ObjectsProcessed', 'ObjectsQuarantined']);
    expect(lines.every((line) => line._aws.CloudWatchMetrics[0]!.Namespace === 'imgpipe-test')).toBe(true);
  });

  it('counts a duplicate under the version as well, and nothing per version without one', async () => {
    const root = sources();
    const run = handler(root, '$LATEST');
    await emfLines(() => run(buildS3Notification({ bucket: join(root, 'src'), key: 'a.jpg' })));
    const again = metricsOf(
      await emfLines(() => run(buildS3Notification({ bucket: join(root, 'src'), key: 'a.jpg' }))),
    );
    expect(again).toContain('ObjectsDuplicate [["service=imgpipe-test","version=$LATEST"]] = 1');

    const unversioned = metricsOf(
      await emfLines(() =>
        handler(sources())(buildS3Notification({ bucket: join(root, 'src'), key: 'notes.txt' })),
      ),
    );
    expect(unversioned).toContain('ObjectsQuarantined [["service=imgpipe-test"]] = 1');
    expect(unversioned.some((m) => m.includes('version='))).toBe(false);
  });
});
