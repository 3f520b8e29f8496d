import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Independent checks with tools that share no code with jSquash (ImageMagick, exiftool, the AWS
 * CLI, qemu). Missing tools skip the tests that need them, with the reason printed; `.ci/run`
 * installs them all and sets IMGPIPE_REQUIRE_TOOLS=1, which turns a missing tool into a failure.
 */
export function hasTool(command: string): boolean {
  const found = spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
  if (!found && process.env.IMGPIPE_REQUIRE_TOOLS === '1') {
    throw new Error(
      `${command} is required (IMGPIPE_REQUIRE_TOOLS=1) but is not installed; .ci/run installs it`,
    );
  }
  if (!found)
    console.warn(
      `[skip] ${command} is not installed: tests that need it are skipped (see .ci/run for the packages)`,
    );
  return found;
}

function withTempFile<T>(bytes: Uint8Array, extension: string, run: (path: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'imgpipe-tool-'));
  const path = join(dir, `file.${extension}`);
  try {
    writeFileSync(path, bytes);
    return run(path);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** ImageMagick's view of an image: format name and dimensions. */
export function identify(bytes: Uint8Array): { format: string; width: number; height: number } {
  return withTempFile(bytes, 'bin', (path) => {
    const [format, width, height] = execFileSync('identify', ['-format', '%m %w %h\n', path], {
      encoding: 'utf8',
    })
      .split('\n')[0]!
      .split(' ');
    return { format: format!, width: Number(width), height: Number(height) };
  });
}

/** Every tag exiftool finds, keyed `Group:Tag`, excluding what it says about the file itself. */
export function metadataTags(bytes: Uint8Array): string[] {
  return withTempFile(bytes, 'bin', (path) => {
    const [tags] = JSON.parse(
      execFileSync('exiftool', ['-j', '-G', '-a', '-u', path], { encoding: 'utf8' }),
    ) as Record<string, unknown>[];
    return metadataKeys(tags ?? {});
  });
}

/** Groups that carry metadata (case matters: "ExifTool:" is exiftool describing itself). */
function metadataKeys(tags: Record<string, unknown>): string[] {
  return Object.keys(tags).filter(
    (key) =>
      /^(EXIF|GPS|XMP|XMP-\w+|IPTC|MakerNotes|Photoshop|ICC_Profile):/.test(key) || /:Comment$/.test(key),
  );
}

/**
 * metadataTags for every file under a folder, in one exiftool run (one process per file would cost
 * ~0.1 s each): file path -> the metadata tags found in it.
 */
export function metadataTagsUnder(folder: string): Map<string, string[]> {
  const found = JSON.parse(
    execFileSync('exiftool', ['-j', '-G', '-a', '-u', '-r', '-q', folder], {
      encoding: 'utf8',
      maxBuffer: 256 * 1024 * 1024,
    }) || '[]',
  ) as Record<string, unknown>[];
  return new Map(found.map((tags) => [String(tags.SourceFile), metadataKeys(tags)]));
}
