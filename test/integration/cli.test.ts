import { execFile } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { decode } from '../../src/codecs/index.ts';
import type { Manifest, QuarantineRecord } from '../../src/pipeline/records.ts';
import { FsStorage } from '../../src/storage/fs.ts';
import { getJson } from '../../src/storage/types.ts';
import { runCli, startCli } from '../support/cli.ts';
import { fixturePath } from '../support/fixtures.ts';
import { hasTool } from '../support/tools.ts';

const tempDir = () => mkdtempSync(join(tmpdir(), 'imgpipe-cli-'));

function inputFolder(): string {
  const dir = tempDir();
  mkdirSync(join(dir, 'in', 'nested'), { recursive: true });
  copyFileSync(fixturePath('photos/texture-life-forest-stream.jpg'), join(dir, 'in', 'nested', 'forest.jpg'));
  copyFileSync(fixturePath('edge/orientation/photo-exif-orientation-6.jpg'), join(dir, 'in', 'rotated.jpg'));
  copyFileSync(fixturePath('edge/broken/truncated-half.jpg'), join(dir, 'in', 'cut.jpg'));
  writeFileSync(join(dir, 'in', '.hidden.jpg'), 'ignored');
  return dir;
}

describe('imgpipe process', () => {
  it('processes a folder into the S3 layout, quarantines the bad file and exits 0', async () => {
    const dir = inputFolder();
    const run = await runCli(['process', 'in', '--out', 'out'], { cwd: dir });
    expect(run.stderr).toContain('[3/3]');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/in\/cut\.jpg\s+quarantined \(truncated\)/);
    expect(run.stdout).toMatch(/in\/nested\/forest\.jpg\s+processed\s+1200x799\s+9/);
    expect(run.stdout).toMatch(/in\/rotated\.jpg\s+processed\s+320x480\s+9/);
    expect(run.stdout).toContain('3 file(s): 2 processed, 0 already done, 1 quarantined, 0 failed');

    const manifest = JSON.parse(
      readFileSync(join(dir, 'out', 'manifests', 'nested', 'forest.jpg.json'), 'utf8'),
    ) as Manifest;
    expect(manifest.outputs.map((o) => o.key)).toContain('small/nested/forest.jpg.avif');
    const small = readFileSync(join(dir, 'out', 'small', 'nested', 'forest.jpg.avif'));
    const image = await decode('avif', small);
    expect([image.width, image.height]).toEqual([320, 213]);
    expect(existsSync(join(dir, 'out', 'quarantine', 'objects', 'cut.jpg'))).toBe(true);
    expect(
      JSON.parse(readFileSync(join(dir, 'out', 'quarantine', 'reasons', 'cut.jpg.json'), 'utf8')),
    ).toMatchObject({ reason: 'truncated' });
    expect(existsSync(join(dir, 'out', 'small', '.hidden.jpg.jpg'))).toBe(false);

    const again = await runCli(['process', 'in', '--out', 'out'], { cwd: dir });
    expect(again.stdout).toMatch(/in\/cut\.jpg\s+already quarantined \(truncated\)/);
    expect(again.stdout).toContain('3 file(s): 0 processed, 3 already done, 0 quarantined, 0 failed');
    expect(again.stdout).toContain(`quarantined inputs in ${join(dir, 'out', 'quarantine')}`);
    const forced = await runCli(['process', 'in/rotated.jpg', '--out', 'out', '--force'], { cwd: dir });
    expect(forced.stdout).toContain('1 file(s): 1 processed');
  });

  it('processes files whose names are 255 bytes long or contain a backslash', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'in'));
    const long = `${'é'.repeat(125)}.jpg`; // 254 bytes: the output name adds ".jpg.webp"
    const names = [long, 'back\\slash.jpg', `${'n'.repeat(251)}.jpg`];
    for (const name of names)
      copyFileSync(fixturePath('edge/orientation/photo-exif-orientation-6.jpg'), join(dir, 'in', name));
    copyFileSync(fixturePath('edge/broken/truncated-half.jpg'), join(dir, 'in', `${'q'.repeat(251)}.jpg`));
    const run = await runCli(['process', 'in', '--out', 'out'], { cwd: dir });
    expect(run.stdout).toContain('4 file(s): 3 processed, 0 already done, 1 quarantined, 0 failed');
    expect(run.code).toBe(0);
    const out = new FsStorage(join(dir, 'out'));
    for (const name of names) {
      const manifest = await getJson<Manifest>(out, `manifests/${name}.json`);
      expect(manifest.outputs.map((o) => o.key)).toContain(`small/${name}.webp`);
      for (const output of manifest.outputs) expect((await out.head(output.key))?.size).toBe(output.bytes);
    }
    const reason = await getJson<QuarantineRecord>(out, `quarantine/reasons/${'q'.repeat(251)}.jpg.json`);
    expect(reason.reason).toBe('truncated');
    // Plain names stay plain paths; a second run reads the split ones back as the same keys.
    expect(existsSync(join(dir, 'out', 'small', 'back\\slash.jpg.webp'))).toBe(true);
    const again = await runCli(['process', 'in', '--out', 'out'], { cwd: dir });
    expect(again.stdout).toContain('4 file(s): 0 processed, 4 already done, 0 quarantined, 0 failed');
  });

  it('removes the outputs of a file replaced by an invalid one', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'in'));
    copyFileSync(fixturePath('edge/orientation/photo-exif-orientation-6.jpg'), join(dir, 'in', 'photo.jpg'));
    expect((await runCli(['process', 'in', '--out', 'out'], { cwd: dir })).code).toBe(0);
    expect(existsSync(join(dir, 'out', 'small', 'photo.jpg.avif'))).toBe(true);

    copyFileSync(fixturePath('edge/broken/text-named.jpg'), join(dir, 'in', 'photo.jpg'));
    const run = await runCli(['process', 'in', '--out', 'out'], { cwd: dir });
    expect(run.stdout).toMatch(/in\/photo\.jpg\s+quarantined \(unsupported-format\)/);
    expect(readdirSync(join(dir, 'out')).sort()).toEqual(['quarantine']);
    expect(existsSync(join(dir, 'out', 'quarantine', 'objects', 'photo.jpg'))).toBe(true);
  });

  it('exits 1 when an input fails for a reason other than quarantine', async () => {
    const dir = inputFolder();
    mkdirSync(join(dir, 'out'));
    writeFileSync(join(dir, 'out', 'large'), 'a file where the large/ folder must go');
    const run = await runCli(['process', 'in/nested', '--out', 'out'], { cwd: dir });
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/forest\.jpg\s+failed/);
    expect(run.stdout).toContain('StorageError: Cannot put');
  });

  it('uses a pipeline configuration file and names a bad value in it', async () => {
    const dir = inputFolder();
    writeFileSync(
      join(dir, 'thumbs.json'),
      JSON.stringify({
        variants: [{ name: 'thumb', width: 64, height: 64, fit: 'cover' }],
        formats: { webp: {} },
      }),
    );
    const run = await runCli(['process', 'in/nested', '--out', 'out', '--config', 'thumbs.json'], {
      cwd: dir,
    });
    expect(run.code).toBe(0);
    const image = await decode('webp', readFileSync(join(dir, 'out', 'thumb', 'forest.jpg.webp')));
    expect([image.width, image.height]).toEqual([64, 64]);

    writeFileSync(join(dir, 'bad.json'), JSON.stringify({ formats: { webp: { quality: 101 } } }));
    const bad = await runCli(['process', 'in', '--out', 'out', '--config', 'bad.json'], { cwd: dir });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(
      'bad.json: Expected integer between 0 and 100 for formats.webp.quality but received 101 of type number',
    );
  });

  it('explains usage mistakes with exit status 2', async () => {
    const missingOut = await runCli(['process', 'x.jpg']);
    expect([missingOut.code, missingOut.stderr]).toEqual([
      2,
      expect.stringContaining('--out <dir> is required'),
    ]);
    const unknown = await runCli(['resize']);
    expect([unknown.code, unknown.stderr]).toEqual([2, expect.stringContaining('unknown command "resize"')]);
    const badPort = await runCli(['dev', '--port', 'abc']);
    expect(badPort.stderr).toContain(
      'Expected a port number between 0 and 65532 (imgpipe dev also listens on the next three) for --port but received "abc"',
    );
  });
});

describe('imgpipe dev', () => {
  const awsEnv = {
    ...process.env,
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_EC2_METADATA_DISABLED: 'true',
  };

  it('serves local S3, processes the samples through the Lambda handler and exits with --once', async () => {
    const dir = tempDir();
    const run = await runCli(['dev', '--once', '--port', '0', '--dir', join(dir, 'data')], {
      timeoutMs: 300_000,
    });
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/Local S3 at http:\/\/127\.0\.0\.1:\d+/);
    expect(run.stdout).toMatch(
      /\+ samples\/portrait-friends-dogs\.jpg: processed, jpeg 1065x1600 -> 9 outputs/,
    );
    expect(run.stdout).toMatch(/\+ samples\/photo-exif-orientation-6\.jpg: processed, jpeg 320x480/);
    expect(run.stdout).toContain('s3://imgpipe-output/small/samples/portrait-friends-dogs.jpg.avif');
    expect(run.stdout).toMatch(/- samples\/text-named\.jpg: quarantined \(unsupported-format\)/);
  }, 300_000);

  it.skipIf(!hasTool('aws'))(
    'turns an upload made with the AWS CLI into variants, then stops on SIGINT',
    async () => {
      const dir = tempDir();
      const { child, match, output } = await startCli(
        ['dev', '--port', '0', '--dir', join(dir, 'data')],
        /Watching for uploads/,
      );
      const endpoint = output().match(/Local S3 at (http:\/\/127\.0\.0\.1:\d+)/)![1]!;
      expect(match).toBeTruthy();
      const aws = (...args: string[]) =>
        promisify(execFile)('aws', [...args, '--endpoint-url', endpoint], { env: awsEnv });
      await aws(
        's3',
        'cp',
        fixturePath('photos/landscape-picos-de-europa.jpg'),
        's3://imgpipe-source/trip/day one.jpg',
      );
      await expect.poll(() => output(), { timeout: 240_000 }).toMatch(/\+ trip\/day one\.jpg: processed/);
      const listing = (await aws('s3', 'ls', 's3://imgpipe-output/medium/trip/')).stdout;
      expect(listing).toMatch(/day one\.jpg\.avif/);
      await aws('s3', 'cp', 's3://imgpipe-output/medium/trip/day one.jpg.webp', join(dir, 'medium.webp'));
      const image = await decode('webp', readFileSync(join(dir, 'medium.webp')));
      expect([image.width, image.height]).toEqual([800, 600]);

      const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
      child.kill('SIGINT');
      expect(await exited).toBe(0);
    },
    300_000,
  );

  it.skipIf(!hasTool('aws'))(
    'loses no upload whose key has + ? # ; & = $ , @ : (AWS CLI against imgpipe dev)',
    async () => {
      const dir = tempDir();
      const { child, output } = await startCli(
        ['dev', '--port', '0', '--dir', join(dir, 'data')],
        /Watching for uploads/,
      );
      try {
        const endpoint = output().match(/Local S3 at (http:\/\/127\.0\.0\.1:\d+)/)![1]!;
        const aws = async (...args: string[]) =>
          (await promisify(execFile)('aws', [...args, '--endpoint-url', endpoint], { env: awsEnv })).stdout;
        const invalid = [...'+?#;&=$,@:'].map((c) => `odd/x${c}y.jpg`);
        const valid = 'odd/ok +?#;&=$,@:.jpg';
        // One upload of a folder whose file names are the keys.
        mkdirSync(join(dir, 'upload', 'odd'), { recursive: true });
        for (const key of invalid)
          copyFileSync(fixturePath('edge/broken/text-named.jpg'), join(dir, 'upload', key));
        copyFileSync(
          fixturePath('edge/orientation/photo-exif-orientation-6.jpg'),
          join(dir, 'upload', valid),
        );
        await aws('s3', 'cp', '--recursive', join(dir, 'upload'), 's3://imgpipe-source/');

        const escaped = (key: string) => key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
        const expected = [
          new RegExp(`\\+ ${escaped(valid)}: processed`),
          ...invalid.map((key) => new RegExp(`- ${escaped(key)}: quarantined \\(unsupported-format\\)`)),
        ];
        // The CLI uploads in parallel, so the events arrive in any order.
        await expect
          .poll(() => expected.filter((line) => !line.test(output())), { timeout: 180_000, interval: 500 })
          .toEqual([]);
        expect(output()).not.toMatch(/failed after|retrying/);

        // Every quarantine copy and reason record is there under its exact key, and listings
        // (which the AWS CLI asks for URL-encoded) name the keys as they were uploaded.
        const listing = await aws('s3', 'ls', '--recursive', 's3://imgpipe-quarantine/');
        for (const key of invalid) {
          expect(listing).toContain(`objects/${key}\n`);
          expect(listing).toContain(`reasons/${key}.json\n`);
        }
        await aws('s3', 'cp', '--recursive', 's3://imgpipe-quarantine/', join(dir, 'quarantine'));
        for (const key of invalid) {
          const copy = readFileSync(join(dir, 'quarantine', 'objects', key));
          expect(Buffer.compare(copy, readFileSync(fixturePath('edge/broken/text-named.jpg')))).toBe(0);
          const reason = JSON.parse(readFileSync(join(dir, 'quarantine', 'reasons', `${key}.json`), 'utf8'));
          expect(reason).toMatchObject({ reason: 'unsupported-format', source: { key } });
        }
        const outputs = await aws('s3', 'ls', '--recursive', 's3://imgpipe-output/');
        for (const variant of ['large', 'medium', 'small'])
          for (const ext of ['jpg', 'webp', 'avif'])
            expect(outputs).toContain(`${variant}/${valid}.${ext}\n`);
        expect(outputs).toContain(`manifests/${valid}.json\n`);
        const small = join(dir, 'small.webp');
        await aws('s3', 'cp', `s3://imgpipe-output/small/${valid}.webp`, small);
        const image = await decode('webp', readFileSync(small));
        expect([image.width, image.height]).toEqual([320, 480]);
      } finally {
        const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
        child.kill('SIGINT');
        await exited;
      }
    },
    360_000,
  );

  it.skipIf(!hasTool('aws') || !hasTool('convert') || !hasTool('jpgicc'))(
    'turns a HEIC photo, a Display P3 JPEG, a CMYK JPEG and an animated GIF uploaded to it into upright sRGB variants',
    async () => {
      const dir = tempDir();
      const { child, output } = await startCli(
        ['dev', '--port', '0', '--dir', join(dir, 'data')],
        /Watching for uploads/,
      );
      const endpoint = output().match(/Local S3 at (http:\/\/127\.0\.0\.1:\d+)/)![1]!;
      const aws = (...args: string[]) =>
        promisify(execFile)('aws', [...args, '--endpoint-url', endpoint], {
          env: awsEnv,
          maxBuffer: 16 << 20,
        });
      const magick = (...args: string[]) =>
        promisify(execFile)('convert', args, { encoding: 'buffer', maxBuffer: 64 << 20 }).then(
          (r) => r.stdout,
        );
      const p3 = join(dir, 'p3.icc');
      writeFileSync(p3, await magick(fixturePath('edge/colour/p3-card.png'), 'icc:-'));
      const srgb = '/usr/share/color/icc/sRGB.icc';
      const cmykReference = join(dir, 'cmyk-reference.jpg');
      await promisify(execFile)('jpgicc', [
        '-t0',
        '-q100',
        fixturePath('edge/colour/cmyk-fogra29-profile.jpg'),
        cmykReference,
      ]);
      // Each input, and how ImageMagick (libheif, Little CMS) or jpgicc shows it in sRGB, upright.
      const inputs = [
        [
          'phone/photo.heic',
          'edge/colour/p3-photo.heic',
          [
            fixturePath('edge/colour/p3-photo.heic'),
            '-profile',
            p3,
            '-intent',
            'Perceptual',
            '-profile',
            srgb,
          ],
        ],
        [
          'phone/grid.heic',
          'edge/orientation/heic-grid-irot3-orientation-6.heic',
          [fixturePath('edge/orientation/heic-grid-irot3-orientation-6.heic')],
        ],
        [
          'phone/p3.jpg',
          'edge/colour/p3-card.jpg',
          [fixturePath('edge/colour/p3-card.jpg'), '-intent', 'Perceptual', '-profile', srgb],
        ],
        ['print/cmyk.jpg', 'edge/colour/cmyk-fogra29-profile.jpg', [cmykReference]],
        [
          'forum/animated.gif',
          'edge/animated/card-3-frames.gif',
          [`${fixturePath('edge/animated/card-3-frames.gif')}[0]`],
        ],
      ] as const;
      for (const [key, fixture] of inputs)
        await aws('s3', 'cp', fixturePath(fixture), `s3://imgpipe-source/${key}`);
      for (const [key] of inputs)
        await expect
          .poll(() => output(), { timeout: 240_000 })
          .toMatch(new RegExp(`\\+ ${key.replace('.', '\\.')}: processed`));
      await aws('s3', 'sync', 's3://imgpipe-output', join(dir, 'out'));
      const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
      child.kill('SIGINT');
      expect(await exited).toBe(0);

      for (const [key, , reference] of inputs) {
        const manifest = JSON.parse(
          readFileSync(join(dir, 'out', 'manifests', `${key}.json`), 'utf8'),
        ) as Manifest;
        expect(manifest.outputs.length, key).toBeGreaterThan(0);
        for (const out of manifest.outputs) {
          const file = join(dir, 'out', out.key);
          // Decoded back by ImageMagick, beside its own sRGB rendering of the source at the same size.
          const ours = await magick(file, '-depth', '8', 'rgb:-');
          const theirs = await magick(
            ...reference,
            '-filter',
            'Lanczos',
            '-resize',
            `${out.width}x${out.height}!`,
            '-depth',
            '8',
            'rgb:-',
          );
          expect(ours.length, out.key).toBe(out.width * out.height * 3);
          let sum = 0;
          for (let i = 0; i < ours.length; i++) sum += Math.abs(ours[i]! - theirs[i]!);
          // Room for lossy encoders (default qualities) and two different Lanczos resamplers.
          expect(sum / ours.length, out.key).toBeLessThan(8);
        }
      }
      const photo = JSON.parse(
        readFileSync(join(dir, 'out', 'manifests', 'phone/photo.heic.json'), 'utf8'),
      ) as Manifest;
      expect(photo.source).toMatchObject({ format: 'heic', colour: { converted: true, source: 'colr' } });
      const gif = JSON.parse(
        readFileSync(join(dir, 'out', 'manifests', 'forum/animated.gif.json'), 'utf8'),
      ) as Manifest;
      expect(gif.source).toMatchObject({ format: 'gif', animated: true, frames: 3 });
    },
    600_000,
  );
});
