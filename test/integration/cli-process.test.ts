import { execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { runProcessCommand } from '../../src/cli/process.ts';
import { decode } from '../../src/codecs/index.ts';
import { loadPipelineConfig } from '../../src/config/index.ts';
import { inThreadEncoder } from '../../src/pipeline/process-image.ts';
import { CLI, namedPipeHold, runCli } from '../support/cli.ts';
import { fixturePath } from '../support/fixtures.ts';

/** Whether text holds a control character other than a line break (an escape sequence, a bell). */
const hasControl = (text: string) =>
  [...text].some((c) => {
    const code = c.codePointAt(0)!;
    return (code < 0x20 && code !== 0x0a) || (code >= 0x7f && code <= 0x9f);
  });

/** `imgpipe process` for scripts and one-off jobs: JSON, quiet, dry runs, globs, stdin, quick flags, every core. */
const tempDir = () => mkdtempSync(join(tmpdir(), 'imgpipe-process-'));

function twoPhotosAndABadFile(): string {
  const dir = tempDir();
  mkdirSync(join(dir, 'in'));
  copyFileSync(fixturePath('photos/portrait-friends-dogs.jpg'), join(dir, 'in', 'dogs.jpg'));
  copyFileSync(fixturePath('edge/orientation/photo-exif-orientation-6.jpg'), join(dir, 'in', 'rotated.jpg'));
  copyFileSync(fixturePath('edge/bombs/png-100000x100000.png'), join(dir, 'in', 'bomb.png'));
  return dir;
}

/** Every file under `folder` with its bytes, manifests left out (they hold timings and dates). */
function outputBytes(folder: string): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else files.set(relative(folder, path), readFileSync(path));
    }
  };
  walk(folder);
  for (const key of files.keys())
    if (key.startsWith('manifests/') || key.startsWith('quarantine/reasons/')) files.delete(key);
  return files;
}

describe('imgpipe process --json', () => {
  it('prints one machine-readable summary and nothing else on stdout', async () => {
    const dir = twoPhotosAndABadFile();
    const run = await runCli(['process', 'in', '--out', 'out', '--json'], { cwd: dir });
    expect(run.code).toBe(0);
    const summary = JSON.parse(run.stdout);
    expect(summary.totals).toMatchObject({ files: 3, processed: 2, duplicate: 0, quarantined: 1, failed: 0 });
    const byKey = Object.fromEntries(summary.inputs.map((i: { key: string }) => [i.key, i]));
    expect(byKey['bomb.png']).toMatchObject({
      path: join('in', 'bomb.png'),
      outcome: 'quarantined',
      reason: 'too-many-pixels',
      width: 100000,
      height: 100000,
    });
    expect(byKey['dogs.jpg']).toMatchObject({ outcome: 'processed', width: 1065, height: 1600 });
    expect(byKey['dogs.jpg'].outputs).toHaveLength(9);
    const small = byKey['dogs.jpg'].outputs.find((o: { key: string }) => o.key === 'small/dogs.jpg.avif');
    expect(small).toMatchObject({ variant: 'small', format: 'avif', width: 320, height: 481 });
    expect(small.bytes).toBe(statSync(join(dir, 'out', 'small', 'dogs.jpg.avif')).size);
    expect(summary.totals.bytesOut).toBe(
      summary.inputs.reduce((sum: number, i: { bytesOut: number }) => sum + i.bytesOut, 0),
    );
  });
});

describe('imgpipe process --json, a failed input', () => {
  it('has the fields every row has: bytes in and out, and its outputs (none)', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'in'));
    copyFileSync(fixturePath('edge/formats/1x1.png'), join(dir, 'in', 'a.png'));
    symlinkSync('../gone.jpg', join(dir, 'in', 'gone.jpg'));
    const run = await runCli(['process', 'in', '--out', 'out', '--json'], { cwd: dir });
    expect(run.code).toBe(1);
    const summary = JSON.parse(run.stdout);
    expect(summary.inputs.map((i: { outcome: string }) => i.outcome)).toEqual(['processed', 'failed']);
    for (const input of summary.inputs) {
      expect(input, input.key).toMatchObject({
        bytesIn: expect.any(Number),
        bytesOut: expect.any(Number),
        outputs: expect.any(Array),
        ms: expect.any(Number),
      });
    }
    expect(summary.inputs[1]).toMatchObject({ bytesIn: 0, bytesOut: 0, outputs: [] });
    expect(summary.inputs[1].error).toBe(
      `${join('in', 'gone.jpg')} is a symbolic link to ../gone.jpg, which does not exist`,
    );
  });
});

describe('imgpipe process --quiet', () => {
  it('prints nothing when all went well', async () => {
    const dir = twoPhotosAndABadFile();
    const run = await runCli(['process', 'in/rotated.jpg', '--out', 'out', '--quiet'], { cwd: dir });
    expect([run.code, run.stdout, run.stderr]).toEqual([0, '', '']);
    expect(existsSync(join(dir, 'out', 'manifests', 'rotated.jpg.json'))).toBe(true);
  });

  it('prints nothing of a dry run but the inputs that would fail, on standard error', async () => {
    // With --dry-run, --quiet printed the whole plan.
    const dir = tempDir();
    mkdirSync(join(dir, 'in'));
    copyFileSync(fixturePath('edge/formats/1x1.png'), join(dir, 'in', 'a.png'));
    const ok = await runCli(['process', 'in', '--out', 'out', '--dry-run', '--quiet'], { cwd: dir });
    expect([ok.code, ok.stdout, ok.stderr]).toEqual([0, '', '']);
    symlinkSync('../gone.jpg', join(dir, 'in', 'gone.jpg'));
    const run = await runCli(['process', 'in', '--out', 'out', '--dry-run', '--quiet'], { cwd: dir });
    expect([run.code, run.stdout, run.stderr]).toEqual([
      1,
      '',
      `imgpipe process: ${join('in', 'gone.jpg')}: would fail: ${join('in', 'gone.jpg')} is a symbolic link to ../gone.jpg, which does not exist\n`,
    ]);
    expect(existsSync(join(dir, 'out'))).toBe(false);
  });
});

describe('imgpipe process with a memory budget (IMGPIPE_MEMORY_MB)', () => {
  it('starts no more encoder threads than leave room for its images', async () => {
    // At 512 MiB two threads take 470 MiB before any image (os.availableParallelism() gives two
    // or more here): the 480x320 photo was quarantined as over-memory-budget. One thread leaves it
    // room.
    const dir = twoPhotosAndABadFile();
    const run = await runCli(['process', 'in/rotated.jpg', '--out', 'out', '--quiet'], {
      cwd: dir,
      env: { IMGPIPE_MEMORY_MB: '512' },
    });
    expect([run.code, run.stderr]).toEqual([0, '']);
    expect(existsSync(join(dir, 'out', 'manifests', 'rotated.jpg.json'))).toBe(true);
  });
});

describe('imgpipe process --dry-run', () => {
  it('prints the variants and keys each input would get, and writes nothing', async () => {
    const dir = twoPhotosAndABadFile();
    const run = await runCli(['process', 'in', '--out', 'out', '--dry-run'], { cwd: dir });
    expect(run.code).toBe(0);
    expect(existsSync(join(dir, 'out'))).toBe(false);
    expect(run.stdout).toContain('in/dogs.jpg: jpeg 1065x1600 -> 9 outputs');
    expect(run.stdout).toMatch(
      / {2}large +1065x1600 +large\/dogs\.jpg\.jpg, large\/dogs\.jpg\.webp, large\/dogs\.jpg\.avif/,
    );
    expect(run.stdout).toMatch(/ {2}small +320x481 +small\/dogs\.jpg\.jpg/);
    expect(run.stdout).toContain('in/rotated.jpg: jpeg 320x480 (stored 480x320, orientation 6) -> 9 outputs');
    expect(run.stdout).toMatch(/in\/bomb\.png: would be quarantined \(too-many-pixels\)/);
    expect(run.stdout).toContain('3 file(s): 2 to process, 0 already done, 1 to quarantine');
  });

  it('refuses an --out the run would refuse, a file, with the same error and exit status', async () => {
    const dir = twoPhotosAndABadFile();
    const args = ['process', 'in', '--out', 'in/dogs.jpg/out'];
    const plan = await runCli([...args, '--dry-run'], { cwd: dir });
    const run = await runCli(args, { cwd: dir });
    expect(run.code).toBe(2);
    expect(run.stderr.split('\n')[0]).toBe(
      'imgpipe process: cannot write to --out in/dogs.jpg/out: in/dogs.jpg is a file, not a folder',
    );
    expect([plan.code, plan.stdout, plan.stderr]).toEqual([run.code, '', run.stderr]);
  });

  it('plans an animated upload as the run decides it under the animation setting', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'in'));
    copyFileSync(fixturePath('edge/animated/card-3-frames.gif'), join(dir, 'in', 'a.gif'));
    const env = { IMGPIPE_ANIMATION: 'quarantine' };
    const plan = await runCli(['process', 'in', '--out', 'out', '--dry-run', '--json'], { cwd: dir, env });
    const run = await runCli(['process', 'in', '--out', 'out', '--json'], { cwd: dir, env });
    expect(JSON.parse(run.stdout).inputs[0]).toMatchObject({ outcome: 'quarantined', reason: 'animated' });
    expect(JSON.parse(plan.stdout).inputs[0]).toMatchObject({ outcome: 'quarantined', reason: 'animated' });
  });

  it('knows which inputs are already done', async () => {
    const dir = twoPhotosAndABadFile();
    await runCli(['process', 'in/rotated.jpg', '--out', 'out', '--quiet'], { cwd: dir });
    const run = await runCli(['process', 'in/rotated.jpg', '--out', 'out', '--dry-run', '--json'], {
      cwd: dir,
    });
    expect(JSON.parse(run.stdout).inputs[0]).toMatchObject({ key: 'rotated.jpg', outcome: 'duplicate' });
  });

  it('knows which inputs are quarantined already, and counts them as the run does', async () => {
    const dir = twoPhotosAndABadFile();
    await runCli(['process', 'in/bomb.png', '--out', 'out', '--quiet'], { cwd: dir });
    const plan = await runCli(['process', 'in', '--out', 'out', '--dry-run', '--json'], { cwd: dir });
    const planned = JSON.parse(plan.stdout);
    expect(planned.inputs.find((i: { key: string }) => i.key === 'bomb.png')).toMatchObject({
      outcome: 'quarantined',
      reason: 'too-many-pixels',
      repeated: true,
    });
    expect(planned.totals).toMatchObject({ planned: 2, duplicate: 1, quarantined: 0 });
    const text = await runCli(['process', 'in', '--out', 'out', '--dry-run'], { cwd: dir });
    expect(text.stdout).toMatch(/in\/bomb\.png: already quarantined \(too-many-pixels\)/);
    expect(text.stdout).toContain('3 file(s): 2 to process, 1 already done, 0 to quarantine');
    // The run itself: the same counts.
    const run = await runCli(['process', 'in', '--out', 'out', '--json'], { cwd: dir });
    expect(JSON.parse(run.stdout).totals).toMatchObject({ processed: 2, duplicate: 1, quarantined: 0 });
    // --force would quarantine it again.
    const forced = await runCli(['process', 'in', '--out', 'out', '--dry-run', '--force'], { cwd: dir });
    expect(forced.stdout).toContain('3 file(s): 2 to process, 0 already done, 1 to quarantine');
  }, 180_000);

  it('knows a file over limits.maxBytes quarantined by an earlier run, and copies it no second time', async () => {
    // FsStorage refused such a file without its ETag, so every run copied it to quarantine again
    // and called it quarantined (counted so), never already quarantined, and so did the dry run.
    const dir = twoPhotosAndABadFile();
    const env = { IMGPIPE_MAX_BYTES: '100000' };
    const first = await runCli(['process', 'in/dogs.jpg', '--out', 'out', '--json'], { cwd: dir, env });
    expect(JSON.parse(first.stdout).inputs[0]).toMatchObject({ outcome: 'quarantined', reason: 'too-large' });
    expect(JSON.parse(first.stdout).inputs[0]).not.toHaveProperty('repeated');
    const copy = join(dir, 'out', 'quarantine', 'objects', 'dogs.jpg');
    const record = readFileSync(join(dir, 'out', 'quarantine', 'reasons', 'dogs.jpg.json'), 'utf8');
    const copied = statSync(copy).ino;
    const plan = await runCli(['process', 'in/dogs.jpg', '--out', 'out', '--dry-run', '--json'], {
      cwd: dir,
      env,
    });
    expect(JSON.parse(plan.stdout).inputs[0]).toMatchObject({
      outcome: 'quarantined',
      reason: 'too-large',
      repeated: true,
    });
    const again = await runCli(['process', 'in/dogs.jpg', '--out', 'out', '--json'], { cwd: dir, env });
    expect(JSON.parse(again.stdout).inputs[0]).toMatchObject({
      outcome: 'quarantined',
      reason: 'too-large',
      repeated: true,
    });
    expect(JSON.parse(again.stdout).totals).toMatchObject({ duplicate: 1, quarantined: 0 });
    // Neither the copy (written anew, it would be another file) nor the record was written again.
    expect(statSync(copy).ino).toBe(copied);
    expect(readFileSync(join(dir, 'out', 'quarantine', 'reasons', 'dogs.jpg.json'), 'utf8')).toBe(record);
    // Other content over the limit under that key is quarantined anew.
    copyFileSync(fixturePath('photos/colour-fig-red-bowl.jpg'), join(dir, 'in', 'dogs.jpg'));
    const changed = await runCli(['process', 'in/dogs.jpg', '--out', 'out', '--dry-run', '--json'], {
      cwd: dir,
      env,
    });
    expect(JSON.parse(changed.stdout).inputs[0]).toMatchObject({
      outcome: 'quarantined',
      reason: 'too-large',
    });
    expect(JSON.parse(changed.stdout).inputs[0]).not.toHaveProperty('repeated');
    // Five runs of the command, each a process of its own: time for a machine running other suites.
  }, 180_000);

  it('quarantines anew content quarantined before when the key was processed since, withdrawing its outputs', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'in'));
    writeFileSync(join(dir, 'in', 'k.jpg'), '');
    expect((await runCli(['process', 'in', '--out', 'out', '--quiet'], { cwd: dir })).code).toBe(0);
    copyFileSync(fixturePath('edge/formats/1x1.jpg'), join(dir, 'in', 'k.jpg'));
    expect((await runCli(['process', 'in', '--out', 'out', '--quiet'], { cwd: dir })).code).toBe(0);
    expect(existsSync(join(dir, 'out', 'small', 'k.jpg.webp'))).toBe(true);
    // Empty again: the record of the first run matched, so the key, processed since, was called
    // already quarantined and counted already done while its outputs were withdrawn.
    writeFileSync(join(dir, 'in', 'k.jpg'), '');
    const plan = await runCli(['process', 'in', '--out', 'out', '--dry-run', '--json'], { cwd: dir });
    expect(JSON.parse(plan.stdout).inputs[0]).not.toHaveProperty('repeated');
    expect(JSON.parse(plan.stdout).totals).toMatchObject({ duplicate: 0, quarantined: 1 });
    const run = await runCli(['process', 'in', '--out', 'out', '--json'], { cwd: dir });
    expect(JSON.parse(run.stdout).inputs[0]).toMatchObject({ outcome: 'quarantined', reason: 'empty' });
    expect(JSON.parse(run.stdout).inputs[0]).not.toHaveProperty('repeated');
    expect(JSON.parse(run.stdout).totals).toMatchObject({ duplicate: 0, quarantined: 1 });
    expect(existsSync(join(dir, 'out', 'small', 'k.jpg.webp'))).toBe(false);
    // Once more, with nothing left to withdraw: this time it is already done.
    const again = await runCli(['process', 'in', '--out', 'out', '--json'], { cwd: dir });
    expect(JSON.parse(again.stdout).inputs[0]).toMatchObject({ outcome: 'quarantined', repeated: true });
  });

  it('predicts a repeated quarantine of content whose outputs (older than its record) it keeps, as the run decides it', async () => {
    // Processed, then quarantined by a lower limit (a reason of the configuration: the outputs
    // stay, and the key's manifest is older than the record). The run then calls it already
    // quarantined (counted already done); the dry run called it to be quarantined anew.
    const dir = tempDir();
    mkdirSync(join(dir, 'in'));
    copyFileSync(fixturePath('edge/formats/1x1.jpg'), join(dir, 'in', 'k.jpg'));
    expect((await runCli(['process', 'in', '--out', 'out', '--quiet'], { cwd: dir })).code).toBe(0);
    const env = { IMGPIPE_MAX_BYTES: '100' };
    const first = await runCli(['process', 'in', '--out', 'out', '--json'], { cwd: dir, env });
    expect(JSON.parse(first.stdout).inputs[0]).toMatchObject({ outcome: 'quarantined', reason: 'too-large' });
    expect(existsSync(join(dir, 'out', 'small', 'k.jpg.webp'))).toBe(true);
    const plan = await runCli(['process', 'in', '--out', 'out', '--dry-run', '--json'], { cwd: dir, env });
    const run = await runCli(['process', 'in', '--out', 'out', '--json'], { cwd: dir, env });
    expect(JSON.parse(run.stdout).inputs[0]).toMatchObject({ outcome: 'quarantined', repeated: true });
    expect(JSON.parse(run.stdout).totals).toMatchObject({ duplicate: 1, quarantined: 0 });
    expect(JSON.parse(plan.stdout).inputs[0]).toMatchObject({ outcome: 'quarantined', repeated: true });
    expect(JSON.parse(plan.stdout).totals).toMatchObject({ duplicate: 1, quarantined: 0 });
  });

  it('predicts the withdrawal of outputs no manifest lists for content quarantined before, as the run does it', async () => {
    // Quarantined (too large), then processed under a higher limit by a run that stopped before
    // its manifest (Ctrl-C, a full disk): its outputs are there, listed nowhere. Under the lower
    // limit again the run withdraws them and calls the file quarantined; the dry run, which
    // looked only at the manifest, called it already quarantined (counted already done).
    const dir = tempDir();
    mkdirSync(join(dir, 'in'));
    copyFileSync(fixturePath('edge/formats/1x1.jpg'), join(dir, 'in', 'k.jpg'));
    const env = { IMGPIPE_MAX_BYTES: '100' };
    const first = await runCli(['process', 'in', '--out', 'out', '--json'], { cwd: dir, env });
    expect(JSON.parse(first.stdout).inputs[0]).toMatchObject({ outcome: 'quarantined', reason: 'too-large' });
    expect((await runCli(['process', 'in', '--out', 'out', '--quiet'], { cwd: dir })).code).toBe(0);
    rmSync(join(dir, 'out', 'manifests', 'k.jpg.json'));
    expect(existsSync(join(dir, 'out', 'small', 'k.jpg.webp'))).toBe(true);
    const plan = await runCli(['process', 'in', '--out', 'out', '--dry-run', '--json'], { cwd: dir, env });
    const run = await runCli(['process', 'in', '--out', 'out', '--json'], { cwd: dir, env });
    expect(JSON.parse(run.stdout).inputs[0]).toMatchObject({ outcome: 'quarantined', reason: 'too-large' });
    expect(JSON.parse(run.stdout).inputs[0]).not.toHaveProperty('repeated');
    expect(existsSync(join(dir, 'out', 'small', 'k.jpg.webp'))).toBe(false);
    expect(JSON.parse(plan.stdout).inputs[0]).not.toHaveProperty('repeated');
    expect(JSON.parse(plan.stdout).totals).toMatchObject({ duplicate: 0, quarantined: 1 });
  }, 120_000);
});

describe('imgpipe process inputs', () => {
  it('expands a glob the shell left quoted', async () => {
    const dir = twoPhotosAndABadFile();
    const run = await runCli(['process', 'in/*.jpg', '--out', 'out', '--dry-run', '--json'], { cwd: dir });
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout).inputs.map((i: { key: string }) => i.key)).toEqual([
      'dogs.jpg',
      'rotated.jpg',
    ]);
    const elsewhere = await runCli(
      ['process', join(dir, 'in', '*.jpg'), '--out', join(dir, 'out'), '--dry-run', '--json'],
      { cwd: tempDir() },
    );
    expect(elsewhere.code).toBe(0);
    expect(JSON.parse(elsewhere.stdout).inputs.map((i: { path: string }) => i.path)).toEqual([
      join(dir, 'in', 'dogs.jpg'),
      join(dir, 'in', 'rotated.jpg'),
    ]);
  });

  /** Runs `args` (with --json) twice in `dir`, both cleanly: the second run's [path, outcome] rows. */
  async function secondRunOutcomes(args: string[], dir: string): Promise<string[][]> {
    expect((await runCli(args, { cwd: dir })).code).toBe(0);
    const again = await runCli(args, { cwd: dir });
    expect(again.stderr).toBe('');
    expect(again.code).toBe(0);
    return JSON.parse(again.stdout).inputs.map((i: { path: string; outcome: string }) => [i.path, i.outcome]);
  }

  it("leaves a glob's matches under --out alone, as a folder's walk does", async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'in', '2024'), { recursive: true });
    copyFileSync(fixturePath('edge/formats/1x1.jpg'), join(dir, 'in', 'a.jpg'));
    copyFileSync(fixturePath('edge/formats/1x1.jpg'), join(dir, 'in', '2024', 'b.jpg'));
    const args = ['process', '**/*.jpg', '--out', 'in/out', '--json'];
    expect(await secondRunOutcomes(args, dir)).toEqual([
      [join('in', '2024', 'b.jpg'), 'duplicate'],
      [join('in', 'a.jpg'), 'duplicate'],
    ]);
  });

  it('leaves them alone when --out is named through a symbolic link', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'in'));
    copyFileSync(fixturePath('edge/formats/1x1.jpg'), join(dir, 'in', 'a.jpg'));
    symlinkSync('in', join(dir, 'link'));
    // in/out by another name: the second run took the first one's outputs under in/out for
    // inputs, and was refused for writing over them (exit 2).
    const args = ['process', 'in/**/*.jpg', '--out', join('link', 'out'), '--json'];
    expect(await secondRunOutcomes(args, dir)).toEqual([[join('in', 'a.jpg'), 'duplicate']]);
  });

  it('takes a folder named again through a link to it as one input per file, not two refused as colliding', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'in'));
    copyFileSync(fixturePath('edge/formats/1x1.jpg'), join(dir, 'in', 'a.jpg'));
    symlinkSync('in', join(dir, 'photos'));
    // The same file, the same key: it was refused, with the advice to process it twice.
    const run = await runCli(['process', 'in', 'photos', 'photos/a.jpg', '--out', 'out', '--json'], {
      cwd: dir,
    });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(
      JSON.parse(run.stdout).inputs.map((i: { path: string; key: string; outcome: string }) => [
        i.path,
        i.key,
        i.outcome,
      ]),
    ).toEqual([[join('in', 'a.jpg'), 'a.jpg', 'processed']]);
    // Two files with one key are still refused.
    mkdirSync(join(dir, 'other'));
    copyFileSync(fixturePath('edge/formats/1x1.png'), join(dir, 'other', 'a.jpg'));
    const clash = await runCli(['process', 'in', 'other', '--out', 'out2'], { cwd: dir });
    expect(clash.code).toBe(2);
  });

  it("keys a glob's matches by their path below its part before the first wildcard, as a folder's", async () => {
    const dir = tempDir();
    for (const year of ['2024', '2025']) {
      mkdirSync(join(dir, 'uploads', year), { recursive: true });
      copyFileSync(fixturePath('edge/formats/1x1.jpg'), join(dir, 'uploads', year, 'cat.jpg'));
    }
    const run = await runCli(['process', 'uploads/**/*.jpg', '--out', 'out', '--json'], { cwd: dir });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout).inputs.map((i: { key: string }) => i.key)).toEqual([
      '2024/cat.jpg',
      '2025/cat.jpg',
    ]);
    expect(existsSync(join(dir, 'out', 'large', '2024', 'cat.jpg.webp'))).toBe(true);
    expect(existsSync(join(dir, 'out', 'large', '2025', 'cat.jpg.webp'))).toBe(true);
    // The same keys as the folder itself gives: a second run finds them done.
    const folder = await runCli(['process', 'uploads', '--out', 'out', '--json'], { cwd: dir });
    expect(
      JSON.parse(folder.stdout).inputs.map((i: { key: string; outcome: string }) => [i.key, i.outcome]),
    ).toEqual([
      ['2024/cat.jpg', 'duplicate'],
      ['2025/cat.jpg', 'duplicate'],
    ]);
  });

  it('reads one image from standard input with -, named by --name', async () => {
    const dir = tempDir();
    const run = await runCli(['process', '-', '--name', 'uploads/dogs.jpg', '--out', 'out', '--json'], {
      cwd: dir,
      input: readFileSync(fixturePath('photos/portrait-friends-dogs.jpg')),
    });
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout).inputs[0]).toMatchObject({
      path: '-',
      key: 'uploads/dogs.jpg',
      outcome: 'processed',
    });
    const image = await decode('webp', readFileSync(join(dir, 'out', 'medium', 'uploads', 'dogs.jpg.webp')));
    expect([image.width, image.height]).toEqual([800, 1202]);
  });

  it('fails an empty standard input, leaving the outputs of its key alone, rather than quarantine it', async () => {
    const dir = tempDir();
    const args = ['process', '-', '--name', 'cat.jpg', '--out', 'out', '--json'];
    const first = await runCli(args, { cwd: dir, input: readFileSync(fixturePath('edge/formats/1x1.jpg')) });
    expect(first.code).toBe(0);
    // curl -f on a 404 pipes nothing: the key was quarantined as empty, its outputs withdrawn, exit 0.
    const empty = await runCli(args, { cwd: dir, input: Buffer.alloc(0) });
    expect(JSON.parse(empty.stdout).inputs[0]).toMatchObject({
      path: '-',
      key: 'cat.jpg',
      outcome: 'failed',
      error:
        'standard input was empty: nothing was read (did the command piping into it fail?); nothing was written or withdrawn',
    });
    expect(empty.code).toBe(1);
    expect(existsSync(join(dir, 'out', 'small', 'cat.jpg.webp'))).toBe(true);
    expect(existsSync(join(dir, 'out', 'quarantine'))).toBe(false);
    const plan = await runCli([...args, '--dry-run'], { cwd: dir, input: Buffer.alloc(0) });
    expect(JSON.parse(plan.stdout).inputs[0]).toMatchObject({ outcome: 'failed' });
    expect(plan.code).toBe(1);
  });

  it('builds a one-off pipeline from quick flags', async () => {
    const dir = twoPhotosAndABadFile();
    const run = await runCli(
      [
        'process',
        'in/dogs.jpg',
        '--out',
        'out',
        '--width',
        '400',
        '--format',
        'webp,avif',
        '--quality',
        '70',
        '--json',
      ],
      { cwd: dir },
    );
    expect(run.code).toBe(0);
    const [input] = JSON.parse(run.stdout).inputs;
    expect(input.outputs.map((o: { key: string }) => o.key)).toEqual([
      'w400/dogs.jpg.webp',
      'w400/dogs.jpg.avif',
    ]);
    const image = await decode('avif', readFileSync(join(dir, 'out', 'w400', 'dogs.jpg.avif')));
    expect([image.width, image.height]).toEqual([400, 601]);
    const manifest = JSON.parse(readFileSync(join(dir, 'out', 'manifests', 'dogs.jpg.json'), 'utf8'));
    expect(manifest.outputs).toHaveLength(2);

    const bad = await runCli(['process', 'in/dogs.jpg', '--out', 'out', '--format', 'gif'], { cwd: dir });
    // Named after the command, with where the help is, as every other flag's mistake (it was
    // "imgpipe: Expected ...", as for a bad IMGPIPE_* variable).
    expect([bad.code, bad.stderr]).toEqual([
      2,
      'imgpipe process: Expected one or more of jpg, jpeg, webp, avif, png for --format but received "gif" of type string\nSee \'imgpipe process --help\'.\n',
    ]);
  });
});

describe('imgpipe process, a file name with control characters', () => {
  it('prints it escaped in the progress, the summary and the plan, and keeps it as it is in --json and the outputs', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'in'));
    // A name that, printed raw, would move the cursor up and rewrite the row above as a success.
    const name = 'x\x1b[1A\x1b[2Kok\n.jpg';
    copyFileSync(fixturePath('edge/formats/1x1.jpg'), join(dir, 'in', name));
    const plan = await runCli(['process', 'in', '--out', 'out', '--dry-run'], { cwd: dir });
    expect(hasControl(plan.stdout)).toBe(false);
    expect(plan.stdout).toContain('in/x\\x1b[1A\\x1b[2Kok\\n.jpg: jpeg 1x1');
    const run = await runCli(['process', 'in', '--out', 'out'], { cwd: dir });
    expect(run.code).toBe(0);
    expect(hasControl(run.stdout)).toBe(false);
    expect(hasControl(run.stderr)).toBe(false);
    expect(run.stdout).toContain('in/x\\x1b[1A\\x1b[2Kok\\n.jpg');
    expect(run.stderr).toContain('[1/1] in/x\\x1b[1A\\x1b[2Kok\\n.jpg: processed');
    const json = await runCli(['process', 'in', '--out', 'out', '--json'], { cwd: dir });
    expect(JSON.parse(json.stdout).inputs[0]).toMatchObject({ key: name, outcome: 'duplicate' });
    expect(existsSync(join(dir, 'out', 'small', `${name}.webp`))).toBe(true);
  });

  it('prints it escaped with --verbose too, where the failures are repeated with their errors', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'in'));
    // A failed row: its error's message quotes the name, and --verbose printed that error raw.
    symlinkSync('nowhere', join(dir, 'in', 'a\x1b[2Jb.jpg'));
    const run = await runCli(['process', 'in', '--out', 'out', '--verbose'], { cwd: dir });
    expect(run.code).toBe(1);
    expect(hasControl(run.stderr)).toBe(false);
    expect(run.stderr).toContain(
      'in/a\\x1b[2Jb.jpg: in/a\\x1b[2Jb.jpg is a symbolic link to nowhere, which does not exist',
    );
  });
});

describe('imgpipe process never writes over an input', () => {
  it('refuses an output, named by a key template without a folder, that is an input file, and leaves it whole', async () => {
    const dir = tempDir();
    copyFileSync(fixturePath('photos/portrait-friends-dogs.jpg'), join(dir, 'photo.jpg'));
    copyFileSync(fixturePath('photos/portrait-friends-dogs.jpg'), join(dir, 'photo-large.jpg'));
    const before = readFileSync(join(dir, 'photo.jpg'));
    // One variant in one format, named as the input is: photo.jpg's output would be photo.jpg.
    const own = await runCli(['process', 'photo.jpg', '-o', '.', '--width', '100', '--format', 'jpeg'], {
      cwd: dir,
      env: { IMGPIPE_KEY_TEMPLATE: '{dir}{name}.{ext}' },
    });
    expect(own.code).toBe(2);
    expect(own.stderr.split('\n')[0]).toBe(
      'imgpipe process: photo.jpg would write photo.jpg in --out ., which is the input photo.jpg: give another --out',
    );
    expect(readFileSync(join(dir, 'photo.jpg')).equals(before)).toBe(true);
    // Another input's output: photo.jpg's large JPEG would be photo-large.jpg. The dry run says so too.
    for (const dryRun of [['--dry-run'], []]) {
      const other = await runCli(['process', 'photo.jpg', 'photo-large.jpg', '-o', '.', ...dryRun], {
        cwd: dir,
        env: { IMGPIPE_KEY_TEMPLATE: '{dir}{name}-{variant}.{ext}' },
      });
      expect(other.code).toBe(2);
      expect(other.stderr.split('\n')[0]).toBe(
        'imgpipe process: photo.jpg would write photo-large.jpg in --out ., which is the input photo-large.jpg: give another --out',
      );
    }
    expect(readFileSync(join(dir, 'photo-large.jpg')).equals(before)).toBe(true);
    expect(readdirSync(dir).sort()).toEqual(['photo-large.jpg', 'photo.jpg']);
  });

  it('refuses two inputs that would write one output, the second over the first', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'in'));
    copyFileSync(fixturePath('edge/formats/1x1.jpg'), join(dir, 'in', 'photo.jpg'));
    copyFileSync(fixturePath('edge/formats/1x1.png'), join(dir, 'in', 'photo.png'));
    // Without the source's extension in the template, photo.jpg and photo.png both make photo.jpg:
    // both were "processed", one output was left, and both manifests named it.
    for (const dryRun of [['--dry-run'], []]) {
      const run = await runCli(
        ['process', 'in', '-o', 'out', '--width', '100', '--format', 'jpeg', ...dryRun],
        {
          cwd: dir,
          env: { IMGPIPE_KEY_TEMPLATE: '{dir}{name}.{ext}' },
        },
      );
      expect(run.code).toBe(2);
      expect(run.stderr.split('\n')[0]).toBe(
        'imgpipe process: in/photo.jpg and in/photo.png would both write photo.jpg in --out out, the second over the first (the key template leaves out what tells their keys apart): process them into different --out folders',
      );
    }
    expect(existsSync(join(dir, 'out'))).toBe(false);
  });
});

describe('imgpipe process symbolic links in a folder', () => {
  it('follows links to files and folders, once round a cycle, and fails a link to nothing by name', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'in'));
    mkdirSync(join(dir, 'elsewhere'));
    copyFileSync(fixturePath('edge/formats/1x1.jpg'), join(dir, 'x.jpg'));
    copyFileSync(fixturePath('edge/formats/1x1.jpg'), join(dir, 'in', 'a.jpg'));
    copyFileSync(fixturePath('edge/formats/1x1.jpg'), join(dir, 'elsewhere', 'b.jpg'));
    symlinkSync('../x.jpg', join(dir, 'in', 'link.jpg'));
    symlinkSync('../elsewhere', join(dir, 'in', 'more'));
    symlinkSync('..', join(dir, 'in', 'more-of-in'));
    symlinkSync('.', join(dir, 'in', 'loop'));
    symlinkSync('../gone.jpg', join(dir, 'in', 'gone.jpg'));
    const run = await runCli(['process', 'in', '--out', 'out', '--json'], { cwd: dir });
    const rows = JSON.parse(run.stdout).inputs.map((i: { key: string; outcome: string }) => [
      i.key,
      i.outcome,
    ]);
    expect(rows).toEqual([
      ['a.jpg', 'processed'],
      ['gone.jpg', 'failed'],
      ['link.jpg', 'processed'],
      ['more/b.jpg', 'processed'],
      // in/more-of-in leads to the folder above, which holds elsewhere/ and x.jpg as well as in/.
      ['more-of-in/elsewhere/b.jpg', 'processed'],
      ['more-of-in/x.jpg', 'processed'],
    ]);
    const gone = JSON.parse(run.stdout).inputs[1];
    expect(gone.error).toBe(
      `${join('in', 'gone.jpg')} is a symbolic link to ../gone.jpg, which does not exist`,
    );
    expect(run.code).toBe(1);
    expect(existsSync(join(dir, 'out', 'small', 'link.jpg.webp'))).toBe(true);
    expect(existsSync(join(dir, 'out', 'small', 'more', 'b.jpg.webp'))).toBe(true);

    const plan = await runCli(['process', 'in', '--out', 'plan', '--dry-run'], { cwd: dir });
    expect(plan.stdout).toContain(
      `${join('in', 'gone.jpg')}: would fail: ${join('in', 'gone.jpg')} is a symbolic link to ../gone.jpg, which does not exist`,
    );
    expect(plan.code).toBe(1);
  });

  it("gives a glob's link to nothing or a cycle a failed row, and names such a link given as an input", async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'in'));
    copyFileSync(fixturePath('edge/formats/1x1.jpg'), join(dir, 'in', 'a.jpg'));
    symlinkSync('../gone.jpg', join(dir, 'in', 'gone.jpg'));
    symlinkSync('loop2.jpg', join(dir, 'in', 'loop1.jpg'));
    symlinkSync('loop1.jpg', join(dir, 'in', 'loop2.jpg'));
    // The glob matches the links: stat's ENOENT (or ELOOP) ended the whole run, nothing processed.
    const run = await runCli(['process', 'in/*.jpg', '--out', 'out', '--json'], { cwd: dir });
    const rows = JSON.parse(run.stdout).inputs.map((i: { key: string; outcome: string; error?: string }) => [
      i.key,
      i.outcome,
      i.error,
    ]);
    expect(rows).toEqual([
      ['a.jpg', 'processed', undefined],
      [
        'gone.jpg',
        'failed',
        `${join('in', 'gone.jpg')} is a symbolic link to ../gone.jpg, which does not exist`,
      ],
      [
        'loop1.jpg',
        'failed',
        `${join('in', 'loop1.jpg')} is a symbolic link to loop2.jpg, which leads back to itself`,
      ],
      [
        'loop2.jpg',
        'failed',
        `${join('in', 'loop2.jpg')} is a symbolic link to loop1.jpg, which leads back to itself`,
      ],
    ]);
    expect(run.code).toBe(1);
    expect(existsSync(join(dir, 'out', 'small', 'a.jpg.webp'))).toBe(true);

    // Named as an input, such a link was "no such file or folder", while ls lists it.
    const named = await runCli(['process', join('in', 'gone.jpg'), '--out', 'out2'], { cwd: dir });
    expect(named.code).toBe(2);
    expect(named.stderr.split('\n')[0]).toBe(
      `imgpipe process: ${join('in', 'gone.jpg')} is a symbolic link to ../gone.jpg, which does not exist: give the image's file`,
    );
    const loop = await runCli(['process', join('in', 'loop1.jpg'), '--out', 'out2'], { cwd: dir });
    expect(loop.code).toBe(2);
    expect(loop.stderr.split('\n')[0]).toBe(
      `imgpipe process: ${join('in', 'loop1.jpg')} is a symbolic link to loop2.jpg, which leads back to itself: give the image's file`,
    );
    expect(existsSync(join(dir, 'out2'))).toBe(false);
  });
});

describe('imgpipe process names that are not valid UTF-8', () => {
  it('gives such a file or folder a failed row saying so, in a folder and from a glob, not missing or ENOENT', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'in'));
    copyFileSync(fixturePath('edge/formats/1x1.jpg'), join(dir, 'in', 'ok.jpg'));
    // caf\xe9.jpg in Latin-1, as an old archive leaves it: Node reads it as caf\uFFFD.jpg, where nothing is.
    const latin1 = (name: string) =>
      Buffer.concat([Buffer.from(`${join(dir, 'in')}/`), Buffer.from(name, 'latin1')]);
    copyFileSync(fixturePath('edge/formats/1x1.jpg'), latin1('caf\xe9.jpg'));
    mkdirSync(latin1('d\xe9'));
    copyFileSync(
      fixturePath('edge/formats/1x1.jpg'),
      Buffer.concat([latin1('d\xe9'), Buffer.from('/x.jpg')]),
    );
    const problem = (name: string) =>
      `${join('in', name)} is named with bytes that are not valid UTF-8 (shown as \uFFFD), which cannot be opened by that name nor be a key: rename it`;
    const rows = (stdout: string) =>
      JSON.parse(stdout).inputs.map((i: { key: string; outcome: string; error?: string }) => [
        i.key,
        i.outcome,
        i.error,
      ]);

    // In a folder it was 'missing' ("No object at ..."), as if deleted while the run was on.
    const run = await runCli(['process', 'in', '--out', 'out', '--json'], { cwd: dir });
    expect(rows(run.stdout)).toEqual([
      ['caf\uFFFD.jpg', 'failed', problem('caf\uFFFD.jpg')],
      ['d\uFFFD', 'failed', problem('d\uFFFD')],
      ['ok.jpg', 'processed', undefined],
    ]);
    expect(JSON.parse(run.stdout).totals).toMatchObject({ files: 2, folders: 1, processed: 1, failed: 2 });
    expect(run.code).toBe(1);

    // A glob's match ended the whole run with a raw ENOENT from stat.
    const globbed = await runCli(['process', 'in/*.jpg', '--out', 'out', '--json'], { cwd: dir });
    expect(rows(globbed.stdout)).toEqual([
      ['caf\uFFFD.jpg', 'failed', problem('caf\uFFFD.jpg')],
      ['ok.jpg', 'duplicate', undefined],
    ]);
    expect(globbed.code).toBe(1);

    // Named (as Node reads the shell's bytes), it cannot be told from a mistyped name: the error says both.
    const named = await runCli(['process', join('in', 'caf\uFFFD.jpg'), '--out', 'out'], { cwd: dir });
    expect(named.code).toBe(2);
    expect(named.stderr.split('\n')[0]).toBe(
      `imgpipe process: no such file or folder: ${join('in', 'caf\uFFFD.jpg')}: if it is named with bytes that are not valid UTF-8 (shown as \uFFFD), it cannot be opened by that name: rename it`,
    );
  });
});

describe('imgpipe process special files in a folder', () => {
  it('gives a named pipe and a device, also behind a link, a failed row naming them, never opening them', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'in'));
    copyFileSync(fixturePath('edge/formats/1x1.jpg'), join(dir, 'in', 'a.jpg'));
    // Opened for reading, a pipe nobody writes to would block the run for good.
    execFileSync('mkfifo', [join(dir, 'in', 'pipe.jpg')]);
    symlinkSync('pipe.jpg', join(dir, 'in', 'to-pipe.jpg'));
    symlinkSync('/dev/null', join(dir, 'in', 'null.jpg'));
    const rows = (stdout: string) =>
      JSON.parse(stdout).inputs.map((i: { key: string; outcome: string; error?: string }) => [
        i.key,
        i.outcome,
        i.error,
      ]);
    const expected = (done: string) => [
      ['a.jpg', done, undefined],
      [
        'null.jpg',
        'failed',
        `${join('in', 'null.jpg')} is a symbolic link to /dev/null, which is a device, not a regular file`,
      ],
      ['pipe.jpg', 'failed', `${join('in', 'pipe.jpg')} is not a regular file: a named pipe`],
      [
        'to-pipe.jpg',
        'failed',
        `${join('in', 'to-pipe.jpg')} is a symbolic link to pipe.jpg, which is a named pipe, not a regular file`,
      ],
    ];

    const plan = await runCli(['process', 'in', '--out', 'out', '--dry-run', '--json'], { cwd: dir });
    expect(rows(plan.stdout)).toEqual(expected('planned'));
    expect(plan.code).toBe(1);
    const run = await runCli(['process', 'in', '--out', 'out', '--json'], { cwd: dir });
    expect(rows(run.stdout)).toEqual(expected('processed'));
    expect(JSON.parse(run.stdout).totals).toMatchObject({ files: 4, processed: 1, failed: 3 });
    expect(run.code).toBe(1);
    expect(existsSync(join(dir, 'out', 'small', 'a.jpg.webp'))).toBe(true);

    // A quoted glob that matches them gives the same rows, where the run was refused (exit 2).
    const globbed = await runCli(['process', 'in/*.jpg', '--out', 'glob-out', '--dry-run', '--json'], {
      cwd: dir,
    });
    expect(rows(globbed.stdout)).toEqual([
      ['a.jpg', 'planned', undefined],
      ['null.jpg', 'failed', `${join('in', 'null.jpg')} is not a regular file: a device`],
      ['pipe.jpg', 'failed', `${join('in', 'pipe.jpg')} is not a regular file: a named pipe`],
      ['to-pipe.jpg', 'failed', `${join('in', 'to-pipe.jpg')} is not a regular file: a named pipe`],
    ]);
    expect(globbed.code).toBe(1);
  });
});

describe('imgpipe process with inputs it cannot read', () => {
  // Root reads whatever the mode says: as root, the CLI runs as nobody (uid 65534), whom mode 000
  // denies; as anyone else, mode 000 denies them already.
  const uid = process.getuid?.() === 0 ? { uid: 65534 } : {};

  it('records an unreadable folder and file as failed rows naming them, and does the rest', async () => {
    const dir = tempDir();
    chmodSync(dir, 0o777);
    mkdirSync(join(dir, 'in', 'locked'), { recursive: true });
    copyFileSync(fixturePath('edge/formats/1x1.jpg'), join(dir, 'in', 'a.jpg'));
    copyFileSync(fixturePath('edge/formats/1x1.jpg'), join(dir, 'in', 'b.jpg'));
    copyFileSync(fixturePath('edge/formats/1x1.jpg'), join(dir, 'in', 'locked', 'c.jpg'));
    chmodSync(join(dir, 'in', 'a.jpg'), 0o644);
    chmodSync(join(dir, 'in', 'b.jpg'), 0o000);
    chmodSync(join(dir, 'in', 'locked'), 0o000);
    const rows = (stdout: string) =>
      JSON.parse(stdout).inputs.map((i: { path: string; outcome: string; error?: string }) => [
        i.path,
        i.outcome,
        i.error?.match(/EACCES/)?.[0],
      ]);
    const expected = (done: string) => [
      [join('in', 'a.jpg'), done, undefined],
      [join('in', 'b.jpg'), 'failed', 'EACCES'],
      [join('in', 'locked'), 'failed', 'EACCES'],
    ];

    const plan = await runCli(['process', 'in', '--out', 'out', '--dry-run', '--json'], { cwd: dir, ...uid });
    expect(plan.stderr).toBe('');
    expect(rows(plan.stdout)).toEqual(expected('planned'));
    expect(plan.code).toBe(1);
    const text = await runCli(['process', 'in', '--out', 'out', '--dry-run'], { cwd: dir, ...uid });
    expect(text.stdout).toMatch(
      /in\/locked: would fail: in\/locked is a folder that cannot be read: .*EACCES/,
    );
    expect(text.stdout).toMatch(/in\/b\.jpg: would fail: .*EACCES.*b\.jpg/);
    // in/locked is a folder: two files and one folder, not three files.
    expect(text.stdout).toContain(
      '2 file(s) and 1 folder(s) that could not be read: 1 to process, 0 already done, 0 to quarantine, 2 failed',
    );
    expect(JSON.parse(plan.stdout).totals).toMatchObject({ files: 2, folders: 1, planned: 1, failed: 2 });

    const run = await runCli(['process', 'in', '--out', 'out', '--json'], { cwd: dir, ...uid });
    expect(run.stderr).toBe('');
    expect(rows(run.stdout)).toEqual(expected('processed'));
    expect(JSON.parse(run.stdout).inputs[2].error).toContain(join('in', 'locked'));
    expect(JSON.parse(run.stdout).totals).toMatchObject({ files: 2, folders: 1, processed: 1, failed: 2 });
    const summary = await runCli(['process', 'in', '--out', 'out'], { cwd: dir, ...uid });
    expect(summary.stdout).toContain(
      '2 file(s) and 1 folder(s) that could not be read: 0 processed, 1 already done, 0 quarantined, 2 failed',
    );
    expect(run.code).toBe(1);
    expect(existsSync(join(dir, 'out', 'small', 'a.jpg.webp'))).toBe(true);
  });
});

describe('imgpipe process with an --out it cannot write', () => {
  // As root, the CLI runs as nobody (uid 65534), whom mode 555 denies writing.
  const uid = process.getuid?.() === 0 ? { uid: 65534 } : {};

  it('refuses it in a dry run as the run does, not plans a run that is refused', async () => {
    const dir = tempDir();
    chmodSync(dir, 0o777);
    mkdirSync(join(dir, 'in'));
    mkdirSync(join(dir, 'site'));
    copyFileSync(fixturePath('edge/formats/1x1.jpg'), join(dir, 'in', 'a.jpg'));
    chmodSync(join(dir, 'in', 'a.jpg'), 0o644);
    chmodSync(join(dir, 'site'), 0o555);
    const refusal = 'imgpipe process: cannot write to --out site/img: permission denied (EACCES)';
    const run = await runCli(['process', 'in', '--out', 'site/img'], { cwd: dir, ...uid });
    expect([run.code, run.stderr.split('\n')[0]]).toEqual([2, refusal]);
    // The dry run planned it and exited 0.
    const plan = await runCli(['process', 'in', '--out', 'site/img', '--dry-run'], { cwd: dir, ...uid });
    expect([plan.code, plan.stderr.split('\n')[0], plan.stdout]).toEqual([2, refusal, '']);
    // A folder it may write in, not made yet, is still planned without being made.
    const fine = await runCli(['process', 'in', '--out', 'out/img', '--dry-run'], { cwd: dir, ...uid });
    expect(fine.code).toBe(0);
    expect(existsSync(join(dir, 'out'))).toBe(false);
  });
});

describe('imgpipe process with a key too long for S3', () => {
  it('names the file where it is, not as an S3 URI with the folder for a bucket', async () => {
    const dir = tempDir();
    const folders = Array.from({ length: 5 }, (_, i) => String(i).repeat(220));
    mkdirSync(join(dir, 'deep', ...folders), { recursive: true });
    copyFileSync(fixturePath('edge/formats/1x1.jpg'), join(dir, 'deep', ...folders, 'a.jpg'));
    const run = await runCli(['process', 'deep', '--out', 'out', '--json'], { cwd: dir });
    expect(run.code).toBe(1);
    const { error } = JSON.parse(run.stdout).inputs[0];
    // It was 'The key of s3:///tmp/imgpipe-process-.../deep/000...'.
    expect(error).toContain(`The key of file://${join(dir, 'deep')}/${'0'.repeat(80)}… is 1110 bytes`);
    expect(error).not.toContain('s3://');
  });
});

describe('imgpipe process exit status', () => {
  it('is 1 when an input went missing before it was read: it got no outputs', async () => {
    const dir = tempDir();
    copyFileSync(fixturePath('edge/formats/1x1.jpg'), join(dir, 'a.jpg'));
    copyFileSync(fixturePath('edge/formats/1x1.jpg'), join(dir, 'b.jpg'));
    const sink = () => Object.assign(new PassThrough(), { isTTY: false });
    const stdout = sink();
    let text = '';
    stdout.on('data', (chunk) => (text += chunk));
    // One file at a time: b.jpg is deleted while a.jpg is encoded, after the inputs were listed.
    const { exitCode, results } = await runProcessCommand({
      inputs: [join(dir, 'a.jpg'), join(dir, 'b.jpg')],
      out: join(dir, 'out'),
      config: loadPipelineConfig({}),
      force: false,
      concurrency: 1,
      encoder: {
        ...inThreadEncoder,
        encode: (...args) => {
          rmSync(join(dir, 'b.jpg'), { force: true });
          return inThreadEncoder.encode(...args);
        },
      },
      json: true,
      stdout,
      stderr: sink(),
    });
    expect(results.map((r) => r.outcome?.status)).toEqual(['processed', 'missing']);
    expect(JSON.parse(text).totals).toMatchObject({ processed: 1, missing: 1 });
    expect(exitCode).toBe(1);
  });

  it('is 0 for a folder that exists and holds nothing to process (an empty drop folder), 2 for a name or glob naming nothing', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'drop'));
    // A dot-file is never an input: the folder still holds nothing to process.
    writeFileSync(join(dir, 'drop', '.DS_Store'), '');
    const run = await runCli(['process', 'drop', '-o', 'out'], { cwd: dir });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toBe('0 file(s): nothing found in drop\n');
    // --out is checked (and made) as for any run: a cron job's wrong --out is found on an empty day too.
    expect(readdirSync(join(dir, 'out'))).toEqual([]);
    const json = await runCli(['process', 'drop', '-o', 'out', '--json'], { cwd: dir });
    expect(json.code).toBe(0);
    const summary = JSON.parse(json.stdout);
    expect(summary).toMatchObject({ dryRun: false, inputs: [] });
    expect(summary.totals).toMatchObject({ files: 0, processed: 0, failed: 0 });
    const dry = await runCli(['process', 'drop', '-o', 'elsewhere', '--dry-run'], { cwd: dir });
    expect(dry.code).toBe(0);
    expect(dry.stdout).toBe('0 file(s): nothing found in drop (dry run: nothing was written)\n');
    expect(existsSync(join(dir, 'elsewhere'))).toBe(false);
    const quiet = await runCli(['process', 'drop', '-o', 'out', '-q'], { cwd: dir });
    expect([quiet.code, quiet.stdout, quiet.stderr]).toEqual([0, '', '']);
    // What names nothing that exists stays a usage error.
    const missing = await runCli(['process', 'drop', 'gone', '-o', 'out'], { cwd: dir });
    expect(missing.code).toBe(2);
    expect(missing.stderr.split('\n')[0]).toBe('imgpipe process: no such file or folder: gone');
    const glob = await runCli(['process', 'drop/*.jpg', '-o', 'out'], { cwd: dir });
    expect(glob.code).toBe(2);
    expect(glob.stderr.split('\n')[0]).toBe('imgpipe process: no file matches drop/*.jpg');
  });

  it('is 2 for an --out it cannot write, with input folders holding nothing', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'drop'));
    writeFileSync(join(dir, 'file'), '');
    const run = await runCli(['process', 'drop', '-o', 'file/out'], { cwd: dir });
    expect(run.code).toBe(2);
    expect(run.stderr.split('\n')[0]).toBe(
      'imgpipe process: cannot write to --out file/out: file is a file, not a folder',
    );
  });
});

describe('imgpipe process on every core', () => {
  it('writes the same bytes concurrently with an encoder pool as one file at a time in one thread', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'in'));
    for (const name of ['landscape-picos-de-europa.jpg', 'portrait-friends-dogs.jpg'])
      copyFileSync(fixturePath(`photos/${name}`), join(dir, 'in', name));
    copyFileSync(fixturePath('edge/formats/alpha-rgba8.png'), join(dir, 'in', 'alpha.png'));
    copyFileSync(fixturePath('edge/broken/truncated-half.jpg'), join(dir, 'in', 'cut.jpg'));
    const sequential = await runCli(['process', 'in', '--out', 'seq', '-j', '1', '--quiet'], {
      cwd: dir,
      env: { IMGPIPE_WORKERS: '1' },
      timeoutMs: 240_000,
    });
    const parallel = await runCli(['process', 'in', '--out', 'par', '-j', '3', '--quiet'], {
      cwd: dir,
      env: { IMGPIPE_WORKERS: '2' },
      timeoutMs: 240_000,
    });
    expect([sequential.code, parallel.code]).toEqual([0, 0]);
    const a = outputBytes(join(dir, 'seq'));
    const b = outputBytes(join(dir, 'par'));
    expect(a.size).toBe(3 * 9 + 1);
    expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
    for (const [key, bytes] of a) expect(b.get(key)!.equals(bytes), key).toBe(true);
  }, 600_000);
});

describe('imgpipe process -, a long stream', () => {
  it('writes standard input to its copy as it comes, never holding it whole', async () => {
    const dir = tempDir();
    // Standard input's copy is made in TMPDIR: what is there is what has reached the disk.
    const temp = join(dir, 'tmp');
    mkdirSync(temp);
    const onDisk = () =>
      readdirSync(temp, { recursive: true, withFileTypes: true })
        .filter((entry) => entry.isFile())
        .reduce((sum, entry) => sum + statSync(join(entry.parentPath, entry.name)).size, 0);
    const chunk = Buffer.alloc(64 * 1024);
    const chunks = 64;
    let sent = 0;
    let writtenBeforeLast = -1;
    // Each chunk is made when asked for: a reader that keeps up with the disk asks for the last
    // one with all but the few in flight written; one that buffers all of it has written nothing.
    const stdin = new Readable({
      read() {
        if (sent === chunks - 1) writtenBeforeLast = onDisk();
        if (sent === chunks) this.push(null);
        else {
          sent++;
          this.push(chunk);
        }
      },
    });
    const previous = process.env.TMPDIR;
    process.env.TMPDIR = temp;
    let results: Awaited<ReturnType<typeof runProcessCommand>>['results'];
    try {
      ({ results } = await runProcessCommand({
        inputs: ['-'],
        out: join(dir, 'out'),
        config: loadPipelineConfig({}),
        force: false,
        encoder: inThreadEncoder,
        stdin,
        stdinKey: 'zeros.jpg',
        json: true,
        stdout: new PassThrough(),
        stderr: new PassThrough(),
      }));
    } finally {
      if (previous === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = previous;
    }
    expect(sent).toBe(chunks);
    expect(writtenBeforeLast).toBeGreaterThanOrEqual((chunks - 4) * chunk.length);
    // All of it was the input, and its copy is gone.
    expect(results[0]?.outcome).toMatchObject({ status: 'quarantined', bytesIn: chunks * chunk.length });
    expect(readdirSync(temp)).toEqual([]);
  });
  it('refuses standard input past limits.maxBytes as soon as it passes it, reading no further and keeping nothing', async () => {
    const dir = tempDir();
    const temp = join(dir, 'tmp');
    mkdirSync(temp);
    const chunk = Buffer.alloc(64 * 1024);
    const maxBytes = 4 * chunk.length;
    // Far more than the limit (a 50 GB stream, in small): it was copied whole to the temporary folder.
    const chunks = 1024;
    let sent = 0;
    const stdin = new Readable({
      read() {
        if (sent === chunks) this.push(null);
        else {
          sent++;
          this.push(chunk);
        }
      },
    });
    const previous = process.env.TMPDIR;
    process.env.TMPDIR = temp;
    let run: Awaited<ReturnType<typeof runProcessCommand>>;
    const stdout = new PassThrough();
    let json = '';
    stdout.on('data', (data) => (json += data));
    try {
      run = await runProcessCommand({
        inputs: ['-'],
        out: join(dir, 'out'),
        config: loadPipelineConfig({ IMGPIPE_MAX_BYTES: String(maxBytes) }),
        force: false,
        encoder: inThreadEncoder,
        stdin,
        stdinKey: 'zeros.jpg',
        json: true,
        stdout,
        stderr: new PassThrough(),
      });
    } finally {
      if (previous === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = previous;
    }
    expect(run.exitCode).toBe(1);
    const [input] = JSON.parse(json).inputs;
    expect(input).toMatchObject({ path: '-', key: 'zeros.jpg', outcome: 'failed' });
    expect(input.error).toContain('standard input is more than the limit of 262144 bytes');
    expect(input.error).toContain('limits.maxBytes');
    // Read no further than the chunks in flight when it passed the limit; the part copied is gone.
    expect(sent).toBeLessThan(chunks / 4);
    expect(readdirSync(temp)).toEqual([]);
    expect(existsSync(join(dir, 'out', 'quarantine'))).toBe(false);
  });
});

describe('imgpipe process interrupted', () => {
  const pause = () => new Promise((resolveWait) => setTimeout(resolveWait, 50));

  it('says a dry run was interrupted, with nothing written and nothing to resume, and exits 130', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'in'));
    mkdirSync(join(dir, 'out', 'manifests'), { recursive: true });
    // The plan reads each input's manifest in --out: a named pipe there holds the dry run in its
    // open (namedPipeHold). With two, the test knows the inputs were listed (the first opened)
    // while the dry run is still on (held by the second, or on its way to it).
    const manifests = ['a', 'b'].map((name) => {
      copyFileSync(fixturePath('edge/formats/1x1.jpg'), join(dir, 'in', `${name}.jpg`));
      return namedPipeHold(join(dir, 'out', 'manifests', `${name}.jpg.json`));
    });
    const child = spawn(process.execPath, [CLI, 'process', 'in', '-o', 'out', '--dry-run'], {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    let stdout = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    const interrupted = new Promise<void>((resolveDone) =>
      child.stderr.on('data', (chunk) => {
        stderr += chunk;
        if (stderr.includes('interrupted')) resolveDone();
      }),
    );
    let ended = false;
    const closed = new Promise<number | null>((resolveClose) =>
      child.once('close', (code) => {
        ended = true;
        resolveClose(code);
      }),
    );
    let first: (typeof manifests)[number] | undefined;
    while (first === undefined) {
      if (ended) throw new Error(`the dry run ended before reading a manifest: ${stderr}`);
      first = manifests.find((manifest) => manifest.release());
      if (first === undefined) await pause();
    }
    child.kill('SIGINT');
    await Promise.race([interrupted, closed]);
    // Exiting waits for an open still held by the other pipe: released until the dry run has ended.
    const other = manifests.find((manifest) => manifest !== first)!;
    while (!ended) if (!other.release()) await pause();
    expect(await closed, stderr).toBe(130);
    expect(stderr.trim()).toBe('dry run interrupted: nothing was written');
    expect(stdout).toBe('');
    expect(readdirSync(join(dir, 'out'))).toEqual(['manifests']);
  }, 120_000);

  it('removes the part of standard input it has copied when stopped while reading it', async () => {
    const dir = tempDir();
    const temp = join(dir, 'tmp');
    mkdirSync(temp);
    const child = spawn(process.execPath, [CLI, 'process', '-', '--name', 'piped.jpg', '-o', 'out'], {
      cwd: dir,
      env: { ...process.env, TMPDIR: temp },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    const closed = new Promise<number | null>((resolveClose) => child.once('close', resolveClose));
    // The command is stopped while the photo is still being written to it: that write ends in
    // EPIPE, which is expected here, not an error of the run (vitest reported it as one, unhandled).
    child.stdin.on('error', () => undefined);
    // Standard input stays open: the copy has begun, and is not done.
    child.stdin.write(readFileSync(fixturePath('photos/texture-life-forest-stream.jpg')));
    const copied = () =>
      readdirSync(temp, { recursive: true, withFileTypes: true }).some(
        (entry) => entry.isFile() && statSync(join(entry.parentPath, entry.name)).size > 0,
      );
    while (!copied()) await new Promise((resolveWait) => setTimeout(resolveWait, 50));
    child.kill('SIGINT');
    expect(await closed, stderr).toBe(130);
    expect(stderr).toContain('interrupted while reading the inputs: nothing was processed');
    expect(readdirSync(temp)).toEqual([]);
    expect(existsSync(join(dir, 'out'))).toBe(false);
    child.stdin.destroy();
  }, 120_000);

  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)(
    'removes its copy of standard input on %s, says what was done and exits %i',
    async (signal, code) => {
      const dir = tempDir();
      mkdirSync(join(dir, 'in'));
      for (const name of [
        'colour-fig-red-bowl.jpg',
        'landscape-picos-de-europa.jpg',
        'portrait-friends-dogs.jpg',
      ])
        copyFileSync(fixturePath(`photos/${name}`), join(dir, 'in', name));
      // The last input's manifest is a named pipe: the run is held there, still on when signalled
      // after its first file (all four could be done before a signal sent on a busy machine).
      mkdirSync(join(dir, 'out', 'manifests'), { recursive: true });
      const held = namedPipeHold(join(dir, 'out', 'manifests', 'portrait-friends-dogs.jpg.json'));
      // Standard input's copy is made in TMPDIR.
      const temp = join(dir, 'tmp');
      mkdirSync(temp);
      const child = spawn(
        process.execPath,
        [CLI, 'process', '-', 'in', '--name', 'piped.jpg', '-o', 'out', '-j', '1'],
        {
          cwd: dir,
          env: { ...process.env, TMPDIR: temp },
          stdio: ['pipe', 'pipe', 'pipe'],
        },
      );
      child.stdin.end(readFileSync(fixturePath('photos/texture-life-forest-stream.jpg')));
      let stderr = '';
      const firstDone = new Promise<void>((resolveDone) =>
        child.stderr.on('data', (chunk) => {
          stderr += chunk;
          if (stderr.includes('[1/4]')) resolveDone();
        }),
      );
      let ended = false;
      const closed = new Promise<number | null>((resolveClose) =>
        child.once('close', (exitCode) => {
          ended = true;
          resolveClose(exitCode);
        }),
      );
      await firstDone;
      expect(readdirSync(temp).filter((name) => name.startsWith('imgpipe-stdin-'))).toHaveLength(1);
      child.kill(signal);
      // Let go only once the run has taken the signal: released before, it could finish the input.
      while (!ended && !stderr.includes('interrupted')) await pause();
      while (!ended) if (!held.release()) await pause();
      expect(await closed, stderr).toBe(code);
      expect(stderr).toMatch(/interrupted: [1-3] of 4 done; run again to resume/);
      expect(readdirSync(temp)).toEqual([]);
    },
    120_000,
  );
});
