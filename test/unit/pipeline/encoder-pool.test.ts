import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeJpegRows } from '../../../src/codecs/index.ts';
import { parsePipelineConfig } from '../../../src/config/document.ts';
import { InvalidImageError } from '../../../src/core/errors.ts';
import { probeImage } from '../../../src/image/probe.ts';
import { availableCpus, defaultWorkers, lambdaVcpus, readCgroupQuota } from '../../../src/pipeline/cpus.ts';
import { Deadline } from '../../../src/pipeline/deadline.ts';
import { createEncoder, EncoderPool, type PooledEncoder } from '../../../src/pipeline/encoder-pool.ts';
import { estimateMemory } from '../../../src/pipeline/memory-budget.ts';
import { planSteps } from '../../../src/pipeline/plan.ts';
import { type Encoder, inThreadEncoder, processImage } from '../../../src/pipeline/process-image.ts';
import { readFixture } from '../../support/fixtures.ts';

describe('encoder pool', () => {
  const config = parsePipelineConfig({ formats: { jpeg: {}, webp: {}, avif: { speed: 8 } } });

  it('produces exactly the bytes the in-thread encoder produces', async () => {
    const bytes = readFixture('photos/landscape-picos-de-europa.jpg');
    const single = await createEncoder(1, config.formats);
    const pool = await createEncoder(2, config.formats);
    try {
      expect([single.parallel, single.workers, pool.parallel, pool.workers]).toEqual([false, 1, true, 2]);
      const [a, b] = [await processImage(bytes, config, single), await processImage(bytes, config, pool)];
      expect(b.outputs.map((o) => [o.variant, o.format])).toEqual(
        a.outputs.map((o) => [o.variant, o.format]),
      );
      for (const [i, output] of b.outputs.entries()) {
        expect(Buffer.compare(Buffer.from(output.bytes), Buffer.from(a.outputs[i]!.bytes))).toBe(0);
      }
    } finally {
      await pool.close();
    }
  });

  describe('a large sequential JPEG decoded by this thread and a worker, in two bands', () => {
    // 5312x2988, one scan; to 1600 px it decodes at 1/2 (2656x1494, over BAND_DECODE_MIN_PIXELS).
    const photo = readFixture('bench/seeding-5312x2988.jpg');
    const oneVariant = parsePipelineConfig({
      variants: [{ name: 'large', width: 1600 }],
      formats: { jpeg: {}, webp: {} },
    });

    /** The pool, with its band decodes counted. */
    function counted(pool: PooledEncoder) {
      const bands: number[] = [];
      const encoder: Encoder = {
        parallel: pool.parallel,
        workers: pool.workers,
        encode: pool.encode.bind(pool),
        decodeJpegRows: (bytes, shrink, rows, options) => {
          bands.push(rows.first);
          return pool.decodeJpegRows!(bytes, shrink, rows, options);
        },
      };
      return { encoder, bands };
    }

    it('gives the bytes of one decode in one thread', async () => {
      expect(probeImage('jpeg', photo).layout.scans).toBe(1);
      const single = await createEncoder(1, oneVariant.formats);
      const pool = await createEncoder(2, oneVariant.formats);
      try {
        const { encoder, bands } = counted(pool);
        const [a, b] = [
          await processImage(photo, oneVariant, single),
          await processImage(photo, oneVariant, encoder),
        ];
        expect(bands).toEqual([896]); // 1494 x 0.6, to a multiple of 32: the worker's rows 896-1493
        expect(b.outputs.map((o) => [o.format, o.width, o.height])).toEqual(
          a.outputs.map((o) => [o.format, o.width, o.height]),
        );
        for (const [i, output] of b.outputs.entries())
          expect(Buffer.from(output.bytes).equals(Buffer.from(a.outputs[i]!.bytes)), output.format).toBe(
            true,
          );
      } finally {
        await pool.close();
      }
    });

    it('fails as one decode fails, with the reason and message the worker found', async () => {
      // Damaged scan data below the top band (the file still ends with its EOI marker, so the
      // probe lets it through): only the worker's band reads it.
      const cut = new Uint8Array(photo);
      for (let i = 0; i < 40; i++) cut[Math.floor(photo.length * 0.85) + i * 7]! ^= 0x5a;
      const single = await createEncoder(1, oneVariant.formats);
      const pool = await createEncoder(2, oneVariant.formats);
      try {
        const { encoder, bands } = counted(pool);
        const failure = (run: Promise<unknown>) =>
          run.then(
            () => undefined,
            (error: unknown) => error,
          );
        const alone = (await failure(processImage(cut, oneVariant, single))) as InvalidImageError;
        const shared = (await failure(processImage(cut, oneVariant, encoder))) as InvalidImageError;
        expect(bands).toHaveLength(1);
        expect(alone).toBeInstanceOf(InvalidImageError);
        expect(shared).toBeInstanceOf(InvalidImageError);
        expect([shared.reason, shared.message, shared.details]).toEqual([
          alone.reason,
          alone.message,
          alone.details,
        ]);
        expect(shared.reason).toBe('corrupt');
        // The worker is still there for the next image.
        expect((await processImage(photo, oneVariant, pool)).outputs).toHaveLength(2);
      } finally {
        await pool.close();
      }
    });

    it('stops both bands at the deadline: the image is too-slow and the pool works afterwards', async () => {
      // At full size (15.9 MP) this thread's band alone takes 130-170 ms; the budget is 100 ms. The
      // watchdog stops this thread's band, the deadline's signal terminates the worker's. (On a
      // machine fast enough to finish the decode in time, the full-size encode runs past it.)
      const fullSize = parsePipelineConfig({ variants: [{ name: 'full' }], formats: { jpeg: {} } });
      const pool = await createEncoder(2, fullSize.formats);
      try {
        const { encoder, bands } = counted(pool);
        const deadline = new Deadline({ maxSeconds: 0.1 });
        const error = (await processImage(photo, fullSize, encoder, deadline).then(
          () => undefined,
          (e: unknown) => e,
        )) as InvalidImageError;
        expect(bands).toEqual([1792]); // 2988 x 0.6, to a multiple of 32
        expect(error).toBeInstanceOf(InvalidImageError);
        expect(error.reason).toBe('too-slow');
        expect((await processImage(photo, oneVariant, pool)).outputs).toHaveLength(2);
      } finally {
        await pool.close();
      }
    });

    it('counts the worker’s band in the memory estimate', () => {
      const header = probeImage('jpeg', photo);
      const decoded = { width: 2656, height: 1494 };
      const steps = planSteps(
        { width: header.displayWidth, height: header.displayHeight },
        oneVariant.variants,
      );
      const alone = estimateMemory(header, decoded, steps, 2, 0, photo.length);
      const shared = estimateMemory(header, decoded, steps, 2, 1494 - 896, photo.length);
      // The worker's band, and the file sent to it and copied into its decoder.
      expect(shared.decode.bytes - alone.decode.bytes).toBe((1494 - 896) * 2656 * 4 + 2 * photo.length);
    });
  });

  it('starts the most expensive of the tasks queued together first, whatever their order', async () => {
    // One worker runs the tasks one at a time, so the order they finish in is the order they started.
    const pool = new EncoderPool(1);
    await pool.warmUp(['jpeg', 'webp', 'avif']);
    try {
      const tiny = { width: 8, height: 8, data: new Uint8ClampedArray(8 * 8 * 4).fill(200) };
      const large = { width: 256, height: 256, data: new Uint8ClampedArray(256 * 256 * 4).fill(90) };
      const finished: string[] = [];
      const track = (name: string, task: Promise<unknown>) => task.then(() => finished.push(name));
      await Promise.all([
        track('jpeg 8x8', pool.encode('jpeg', tiny, config.formatOptions)),
        track('webp 8x8', pool.encode('webp', tiny, config.formatOptions)),
        track('avif 256x256', pool.encode('avif', large, config.formatOptions)),
        track('jpeg 256x256', pool.encode('jpeg', large, config.formatOptions)),
      ]);
      expect(finished).toEqual(['avif 256x256', 'jpeg 256x256', 'jpeg 8x8', 'webp 8x8']);
    } finally {
      await pool.close();
    }
  });

  it("sends a view's pixels alone, and leaves the caller's buffer whole", async () => {
    const pool = await createEncoder(2, config.formats);
    try {
      // Rows 2-5 of an 8-row image, as a whole-width crop gives them: a view into its buffer.
      const buffer = new Uint8ClampedArray(16 * 8 * 4).map((_, i) => (i * 37) % 251);
      const view = { width: 16, height: 4, data: buffer.subarray(2 * 16 * 4, 6 * 16 * 4) };
      const copy = { width: 16, height: 4, data: view.data.slice() };
      const [pooled, inThread] = [
        await pool.encode('webp', view, config.formatOptions),
        await inThreadEncoder.encode('webp', copy, config.formatOptions),
      ];
      expect(Buffer.from(pooled.bytes).equals(Buffer.from(inThread.bytes))).toBe(true);
      // Only the worker's copy was moved: the caller's buffer is neither detached nor changed.
      expect(buffer.byteLength).toBe(16 * 8 * 4);
      expect(Buffer.from(view.data).equals(Buffer.from(copy.data))).toBe(true);
    } finally {
      await pool.close();
    }
  });

  it("sends a file in a Node Buffer (a view, or one of Node's pooled small Buffers) without touching it", async () => {
    const pool = await createEncoder(2, config.formats);
    try {
      const jpeg = readFixture('edge/formats/1x1.jpg');
      const expected = await decodeJpegRows(jpeg, 1, { first: 0, count: 1 });
      // Node's Buffer.slice() shares memory: a copy made with it would move the caller's bytes.
      const larger = Buffer.concat([Buffer.alloc(16), jpeg]);
      const view = larger.subarray(16);
      // Under 4 KB, Buffer.from copies into Node's shared pool, whose memory cannot be transferred.
      const pooled = Buffer.from(jpeg);
      expect(pooled.buffer.byteLength).toBeGreaterThan(pooled.length);
      for (const bytes of [view, pooled]) {
        const image = await pool.decodeJpegRows!(bytes, 1, { first: 0, count: 1 });
        expect(Buffer.from(image.data).equals(Buffer.from(expected.data))).toBe(true);
        expect(Buffer.from(bytes).equals(Buffer.from(jpeg))).toBe(true);
      }
      expect(larger.length).toBe(jpeg.length + 16);
      // Both workers are free afterwards: two encodes at once finish.
      const image = { width: 2, height: 2, data: new Uint8ClampedArray(16) };
      const done = await Promise.all([0, 1].map(() => pool.encode('jpeg', image, config.formatOptions)));
      expect(done.map((result) => result.bytes[0])).toEqual([0xff, 0xff]);
    } finally {
      await pool.close();
    }
  });

  it('fails a request that cannot be sent to a worker alone, and keeps both workers', async () => {
    const pool = await createEncoder(2, config.formats);
    try {
      const image = { width: 2, height: 2, data: new Uint8ClampedArray(16) };
      // A function cannot be cloned into a worker's message.
      const unsendable = { ...config.formatOptions, jpeg: { ...config.formatOptions.jpeg, hook: () => 1 } };
      await expect(pool.encode('jpeg', image, unsendable as never)).rejects.toThrow(/could not be cloned/);
      const done = await Promise.all([0, 1].map(() => pool.encode('jpeg', image, config.formatOptions)));
      expect(done.map((result) => result.bytes[0])).toEqual([0xff, 0xff]);
    } finally {
      await pool.close();
    }
  });

  it('reports an encoder failure in a worker as a rejection and keeps working', async () => {
    const pool = await createEncoder(2, config.formats);
    try {
      const image = { width: 2, height: 2, data: new Uint8ClampedArray(16) };
      await expect(pool.encode('bmp' as never, image, config.formatOptions)).rejects.toThrow();
      const ok = await pool.encode('jpeg', image, config.formatOptions);
      expect(ok.bytes[0]).toBe(0xff);
    } finally {
      await pool.close();
    }
  });
});

describe('CPU allowance', () => {
  it('follows Lambda: one vCPU per 1,769 MB, at most six', () => {
    expect(lambdaVcpus(1769)).toBe(1);
    expect(lambdaVcpus(3538)).toBe(2);
    expect(lambdaVcpus(10_240)).toBeCloseTo(5.79, 2);
    expect(lambdaVcpus(20_000)).toBe(6);
    expect(lambdaVcpus(512)).toBeCloseTo(0.289, 3);
  });

  it('encodes in-thread below 1.5 CPUs and uses a worker per CPU above', () => {
    const none = '/nonexistent-cgroup';
    expect(defaultWorkers({ AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '2048' }, none)).toBe(1);
    expect(availableCpus({ AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '3008' }, none)).toBeLessThanOrEqual(3008 / 1769);
  });

  it('reads cgroup v2 and v1 CPU quotas', () => {
    const v2 = mkdtempSync(join(tmpdir(), 'cg2-'));
    writeFileSync(join(v2, 'cpu.max'), '150000 100000\n');
    expect(readCgroupQuota(v2, '/nonexistent')).toEqual({ version: 2, cpus: 1.5 });
    writeFileSync(join(v2, 'cpu.max'), 'max 100000\n');
    expect(readCgroupQuota(v2, '/nonexistent')).toEqual({ version: 2, cpus: undefined });
    const v1 = mkdtempSync(join(tmpdir(), 'cg1-'));
    mkdirSync(join(v1, 'cpu'));
    writeFileSync(join(v1, 'cpu', 'cpu.cfs_quota_us'), '50000\n');
    writeFileSync(join(v1, 'cpu', 'cpu.cfs_period_us'), '100000\n');
    expect(readCgroupQuota(v1, '/nonexistent')).toEqual({ version: 1, cpus: 0.5 });
    expect(availableCpus({}, v1, '/nonexistent')).toBe(0.5);
    writeFileSync(join(v1, 'cpu', 'cpu.cfs_quota_us'), '-1\n');
    expect(readCgroupQuota(v1, '/nonexistent')).toEqual({ version: 1, cpus: undefined });
  });

  it("reads the quota of the process's own cgroup, not the hierarchy root's", () => {
    const root = mkdtempSync(join(tmpdir(), 'cg-'));
    mkdirSync(join(root, 'cpu', 'sweep', '1769'), { recursive: true });
    writeFileSync(join(root, 'cpu', 'cpu.cfs_quota_us'), '-1\n');
    writeFileSync(join(root, 'cpu', 'cpu.cfs_period_us'), '100000\n');
    writeFileSync(join(root, 'cpu', 'sweep', '1769', 'cpu.cfs_quota_us'), '100000\n');
    writeFileSync(join(root, 'cpu', 'sweep', '1769', 'cpu.cfs_period_us'), '100000\n');
    const self = join(root, 'self-cgroup');
    writeFileSync(self, '12:memory:/\n4:cpu,cpuacct:/sweep/1769\n1:name=systemd:/\n');
    expect(readCgroupQuota(root, self)).toEqual({ version: 1, cpus: 1 });
    const v2 = mkdtempSync(join(tmpdir(), 'cg2-'));
    mkdirSync(join(v2, 'jobs', 'a'), { recursive: true });
    writeFileSync(join(v2, 'jobs', 'a', 'cpu.max'), '200000 100000\n');
    writeFileSync(join(v2, 'self'), '0::/jobs/a\n');
    expect(readCgroupQuota(v2, join(v2, 'self'))).toEqual({ version: 2, cpus: 2 });
  });

  it('holds the cgroup to the least quota along its path: a parent slice limits its children', () => {
    const v2 = mkdtempSync(join(tmpdir(), 'cg2-'));
    mkdirSync(join(v2, 'slice', 'job'), { recursive: true });
    writeFileSync(join(v2, 'slice', 'cpu.max'), '150000 100000\n');
    writeFileSync(join(v2, 'slice', 'job', 'cpu.max'), 'max 100000\n');
    writeFileSync(join(v2, 'self'), '0::/slice/job\n');
    expect(readCgroupQuota(v2, join(v2, 'self'))).toEqual({ version: 2, cpus: 1.5 });
    const v1 = mkdtempSync(join(tmpdir(), 'cg1-'));
    mkdirSync(join(v1, 'cpu', 'docker', 'abc'), { recursive: true });
    for (const [folder, quota] of [
      [join(v1, 'cpu'), '-1'],
      [join(v1, 'cpu', 'docker'), '50000'],
      [join(v1, 'cpu', 'docker', 'abc'), '-1'],
    ] as const) {
      writeFileSync(join(folder, 'cpu.cfs_quota_us'), `${quota}\n`);
      writeFileSync(join(folder, 'cpu.cfs_period_us'), '100000\n');
    }
    writeFileSync(join(v1, 'self'), '4:cpu,cpuacct:/docker/abc\n');
    expect(readCgroupQuota(v1, join(v1, 'self'))).toEqual({ version: 1, cpus: 0.5 });
  });
});
