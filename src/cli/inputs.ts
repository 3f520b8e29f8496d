import type { Stats } from 'node:fs';
import { createWriteStream, rmSync } from 'node:fs';
import { glob, lstat, mkdir, mkdtemp, realpath, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ObjectRef } from '../core/objects.ts';
import { brokenLinkProblem, mayBeNotUtf8, NOT_UTF8, specialKind, walkEntries } from '../storage/files.ts';
import { FsStorage } from '../storage/fs.ts';
import { invalidKeyReason } from '../storage/fs-keys.ts';
import { UsageError } from './args.ts';
import { exists } from './folders.ts';

/**
 * What `imgpipe process` was asked to work on: files, folders (recursively, dot-files and --out skipped),
 * glob patterns the shell left alone (quoted, or a shell without globbing), and `-` for one image on
 * standard input. Each becomes an object: the folder it was found in plays the bucket, its path
 * below that folder is the key, exactly as an upload's key in S3 decides its output keys.
 */
export interface Input {
  /** As the user would name it: relative to the working folder, or `-`. */
  readonly display: string;
  readonly path: string;
  readonly ref: ObjectRef;
  /** Why it cannot be read at all (a symbolic link to nothing): a failed row, never processed. */
  readonly problem?: string;
  /** It is a folder that cannot be read, not a file: the summary counts it as a folder. */
  readonly folder?: true;
}

export interface CollectOptions {
  readonly out: string;
  readonly command: string;
  readonly stdin?: NodeJS.ReadableStream & { isTTY?: boolean };
  /** The key of the image read from standard input. */
  readonly stdinKey?: string;
  /**
   * The pipeline's limits.maxBytes: standard input is read no further than this, as a source
   * object over it is never read from S3. Without it, standard input is copied whole.
   */
  readonly maxBytes?: number;
  readonly cwd?: string;
  /**
   * The folders at the top of --out that the run writes into (BucketLayout.topFolders): an input
   * folder in one of them is refused. Without it, every folder under --out is.
   */
  readonly outputFolders?: ReadonlySet<string>;
}

export interface CollectedInputs {
  readonly inputs: Input[];
  /** Removes what reading standard input left on disk (removeStdinCopiesNow for a signal's handler). */
  cleanup(): Promise<void>;
}

const GLOB_CHARACTERS = /[*?[\]{}]/;

/** The folders holding a copy of standard input, until removed: a signal's handler removes them. */
const stdinCopies = new Set<string>();

/** Removes every copy of standard input at once: for a signal's handler, which exits right after. */
export function removeStdinCopiesNow(): void {
  for (const folder of stdinCopies) rmSync(folder, { recursive: true, force: true });
  stdinCopies.clear();
}

export async function collectInputs(
  paths: readonly string[],
  options: CollectOptions,
): Promise<CollectedInputs> {
  const cwd = options.cwd ?? process.cwd();
  const outRoot = resolve(cwd, options.out);
  // Relative to the working folder when inside it, else absolute.
  const display = (path: string) => {
    const below = relative(cwd, path);
    return below && !below.startsWith('..') ? below : path;
  };
  const inputs: Input[] = [];
  const temporary: string[] = [];
  const cleanup = async () => {
    for (const folder of temporary) {
      await rm(folder, { recursive: true, force: true });
      stdinCopies.delete(folder);
    }
  };
  // A file's key is its path below `base`: the folder named, or a glob's part before its first
  // wildcard (uploads/**/*.jpg keeps 2024/cat.jpg, as the folder uploads would), else its name.
  // `matched`: found by a glob, which like a folder may hold what is not a file.
  const addPath = async (absolute: string, base?: string, matched = false) => {
    const ref = base
      ? { bucket: base, key: relative(base, absolute).split(sep).join('/') }
      : { bucket: dirname(absolute), key: basename(absolute) };
    let info: Stats;
    try {
      info = await stat(absolute);
    } catch (error) {
      // A symbolic link to nothing, or one that leads back to itself: a glob matches it (a raw
      // ENOENT from stat ended the whole run), and a name given may be one ("no such file" while
      // ls lists it). As in a folder's walk, a glob's is a failed row; one named is refused.
      const link = (await lstat(absolute).catch(() => undefined))?.isSymbolicLink();
      if (!link && !(matched && mayBeNotUtf8(absolute))) throw error;
      const problem = `${display(absolute)} is ${link ? await brokenLinkProblem(absolute, error) : NOT_UTF8}`;
      if (!matched) throw new UsageError(options.command, `${problem}: give the image's file`);
      inputs.push({ display: display(absolute), path: absolute, ref, problem });
      return;
    }
    if (info.isDirectory()) {
      // The walk leaves --out alone: the folder would give no input at all.
      if (absolute === outRoot || (await realOf(absolute)) === (await realOf(outRoot))) {
        throw new UsageError(
          options.command,
          `--out ${options.out} is the input folder ${display(absolute)}: its outputs would be mixed with the inputs; give another --out`,
        );
      }
      // Nor a folder under --out that a run writes into: its files are outputs, manifests or
      // quarantined copies (site/images with --out site is not one: outputs go to site/w64 and so on).
      const [realFolder, realOut] = [
        (await realOf(absolute)) ?? absolute,
        (await realOf(outRoot)) ?? outRoot,
      ];
      const top = relative(realOut, realFolder).split(sep)[0]!;
      if (
        isInside(realFolder, realOut) &&
        (options.outputFolders === undefined || options.outputFolders.has(top))
      ) {
        throw new UsageError(
          options.command,
          `the input folder ${display(absolute)} is inside --out ${options.out}, where outputs, manifests and quarantined copies are written: give another --out or input`,
        );
      }
      const bucket = base ?? absolute;
      for (const { path: file, problem, folder } of await walkEntries(absolute, { skip: outRoot })) {
        inputs.push({
          display: display(file),
          path: file,
          ref: { bucket, key: relative(bucket, file).split(sep).join('/') },
          ...(problem ? { problem: `${display(file)} is ${problem}` } : {}),
          ...(folder ? { folder } : {}),
        });
      }
    } else if (info.isFile() || matched) {
      // A file named in a folder a run writes into is one of its outputs, manifests or quarantined
      // copies (a glob's matches under --out are left out below): its quarantine copy was written
      // over the file itself.
      if (!matched) {
        const [realFile, realOut] = [
          (await realOf(absolute)) ?? absolute,
          (await realOf(outRoot)) ?? outRoot,
        ];
        const below = relative(realOut, realFile).split(sep);
        if (
          isInside(realFile, realOut) &&
          below.length > 1 &&
          (options.outputFolders === undefined || options.outputFolders.has(below[0]!))
        ) {
          throw new UsageError(
            options.command,
            `the input file ${display(absolute)} is inside --out ${options.out}, where outputs, manifests and quarantined copies are written: give another --out or input`,
          );
        }
      }
      inputs.push({
        display: display(absolute),
        path: absolute,
        ref,
        // A named pipe or device a glob matched is a failed row, as in a folder (never opened).
        ...(info.isFile()
          ? {}
          : { problem: `${display(absolute)} is not a regular file: ${specialKind(info)}` }),
      });
    } else {
      // Dropped, it would end with no outcome while the run said all went well. A pipe is what
      // /dev/stdin and a shell's <(curl ...) are: standard input is read with -.
      const pipe = info.isFIFO()
        ? ', or give - and pipe the image in (... | imgpipe process - --name <key>)'
        : '';
      throw new UsageError(
        options.command,
        `${display(absolute)} is ${specialKind(info)}, not a file or folder: give the image's file${pipe}`,
      );
    }
  };
  try {
    if (paths.filter((path) => path === '-').length > 1) {
      throw new UsageError(options.command, '- (standard input) can be given once');
    }
    for (const path of paths) {
      if (path === '-') {
        inputs.push(await readStandardInput(options, temporary));
        continue;
      }
      // resolve() takes '' for the current folder: `"$photo"` with the variable unset processed
      // every file under it (and copied the non-images to quarantine).
      if (path === '')
        throw new UsageError(
          options.command,
          "an input is the empty string '' (an unset shell variable?), which names no file: give a file, folder, glob or -",
        );
      const absolute = resolve(cwd, path);
      if ((await exists(absolute)) || (await lstat(absolute).catch(() => undefined))?.isSymbolicLink()) {
        await addPath(absolute);
        continue;
      }
      if (!GLOB_CHARACTERS.test(path))
        throw new UsageError(
          options.command,
          mayBeNotUtf8(path)
            ? `no such file or folder: ${path}: if it is named with bytes that are not valid UTF-8 (shown as \uFFFD), it cannot be opened by that name: rename it`
            : `no such file or folder: ${path}`,
        );
      const matches: string[] = [];
      for await (const match of glob(path, { cwd })) matches.push(resolve(cwd, match));
      // As a shell does, a wildcard matches no dot-file or dot-folder (below the pattern's fixed part).
      const segments = path.split(/[\\/]/);
      const fixedPart = segments
        .slice(
          0,
          segments.findIndex((s) => GLOB_CHARACTERS.test(s)),
        )
        .join(sep);
      const fixed = resolve(cwd, fixedPart || '.');
      // Nor, as a folder's walk, anything under --out: a second run of '**/*.jpg' -o out would
      // take the first run's outputs for inputs. Told by real paths, as the walk tells it: with
      // --out named through a symbolic link (link/out, link to in), in/out/... was taken.
      const realOut = (await realOf(outRoot)) ?? outRoot;
      const inOut = new Set<string>();
      for (const match of matches) {
        // The match's folder, not the match: a link to a file under --out is a file named, as in a walk.
        const real = join((await realOf(dirname(match))) ?? dirname(match), basename(match));
        if (isInside(match, outRoot) || isInside(real, realOut)) inOut.add(match);
      }
      const visible = matches.filter(
        (match) =>
          !relative(fixed, match)
            .split(sep)
            .some((part) => part.startsWith('.') && part !== '..') && !inOut.has(match),
      );
      if (visible.length === 0) {
        // Matches there are, all left out: say which rule left them out, not that there are none.
        const underOut = inOut.size;
        throw new UsageError(
          options.command,
          underOut > 0
            ? `all ${underOut} match(es) of ${path} are under --out ${options.out}, which a glob's matches are never taken from (they would be a run's outputs): give another --out, or name the files`
            : `no file matches ${path}`,
        );
      }
      for (const match of visible.sort())
        await addPath(match, isInside(match, fixed) ? fixed : undefined, true);
    }
    return { inputs: await checkCollisions(dedupe(inputs), options.command), cleanup };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

async function realOf(path: string): Promise<string | undefined> {
  return realpath(path).catch(() => undefined);
}

/** Whether `path` is `folder` or below it (both absolute). */
function isInside(path: string, folder: string): boolean {
  const below = relative(folder, path);
  return below === '' || (!below.startsWith(`..${sep}`) && below !== '..' && !isAbsolute(below));
}

/**
 * The same file named twice (a folder and a file in it, or two nested folders) is one input, keyed
 * by the widest name given for it: its longest key (2024/cat.jpg through the folder p, not cat.jpg
 * as p/2024/cat.jpg), whatever the order of the arguments. The first one named kept its key, so
 * swapping two arguments processed the file again under another key, beside its first outputs.
 */
function dedupe(inputs: readonly Input[]): Input[] {
  const widest = new Map<string, Input>();
  for (const input of inputs) {
    if (input.display === '-') continue;
    const other = widest.get(input.path);
    if (!other || input.ref.key.length > other.ref.key.length) widest.set(input.path, input);
  }
  const placed = new Set<string>();
  return inputs.flatMap((input) => {
    if (input.display === '-') return [input];
    if (placed.has(input.path)) return [];
    placed.add(input.path);
    return [widest.get(input.path)!];
  });
}

/**
 * Two different files with one key would write the same outputs, the second over the first
 * (issue #7): refuse, naming both, rather than lose one silently.
 */
async function checkCollisions(inputs: Input[], command: string): Promise<Input[]> {
  const byKey = new Map<string, Input>();
  const kept: Input[] = [];
  for (const input of inputs) {
    const other = byKey.get(input.ref.key);
    if (other) {
      // The same file under the same key, named through a link (in and a link to in): one input.
      // It was refused, with the advice to process it twice into two --out folders.
      if (await sameFile(input, other)) continue;
      throw new UsageError(
        command,
        `${other.display} and ${input.display} would both be written as ${input.ref.key}; process them into different --out folders`,
      );
    }
    byKey.set(input.ref.key, input);
    kept.push(input);
  }
  return kept;
}

async function sameFile(a: Input, b: Input): Promise<boolean> {
  if (a.display === '-' || b.display === '-' || a.problem !== undefined || b.problem !== undefined)
    return false;
  const real = await realOf(a.path);
  return real !== undefined && real === (await realOf(b.path));
}

async function readStandardInput(options: CollectOptions, temporary: string[]): Promise<Input> {
  const stdin = options.stdin ?? process.stdin;
  if (stdin.isTTY) {
    throw new UsageError(
      options.command,
      '- reads an image from standard input, which is a terminal here: pipe one in (imgpipe process - --out <dir> < photo.jpg)',
    );
  }
  const key = options.stdinKey ?? 'stdin';
  const segments = key.split('/');
  const invalid = invalidKeyReason(key);
  if (invalid)
    throw new UsageError(options.command, `--name ${JSON.stringify(key)} is not a usable key: ${invalid}`);
  // Each says what is wrong: "use a relative path" was said of a//b.jpg and a\\b.jpg too.
  const problem = isAbsolute(key)
    ? 'it begins with /: use a relative path like photos/cat.jpg'
    : segments.some((s) => s === '')
      ? 'it has an empty segment (// or a / at an end)'
      : segments.some((s) => s === '.' || s === '..')
        ? 'it has a . or .. segment, which a path resolves'
        : key.includes('\\')
          ? 'it holds \\, which Windows and browsers read as /'
          : undefined;
  if (problem !== undefined)
    throw new UsageError(options.command, `--name ${JSON.stringify(key)} is not a usable key: ${problem}`);
  // The pipeline reads objects from storage: standard input becomes an object in a folder of its
  // own, stored as FsStorage stores keys (a name over 255 bytes is split over folders, not refused).
  // Streamed to the file, never held whole, and no further than maxBytes: the run reads it within
  // maxBytes, as it reads any file, so piping a huge stream holds no more memory or disk.
  const folder = await mkdtemp(join(tmpdir(), 'imgpipe-stdin-'));
  temporary.push(folder);
  stdinCopies.add(folder);
  const storage = new FsStorage(folder);
  const path = storage.pathOf(key, 'put');
  await mkdir(dirname(path), { recursive: true });
  const ref = { bucket: folder, key };
  const { maxBytes } = options;
  let copied = 0;
  // A stream past maxBytes is refused as soon as it passes it, not copied whole: 50 GB piped in
  // filled the temporary folder before the run found it too large. The part copied is removed.
  const bounded = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      copied += chunk.length;
      if (maxBytes !== undefined && copied > maxBytes) done(new StdinTooLargeError(maxBytes));
      else done(null, chunk);
    },
  });
  try {
    await pipeline(stdin, bounded, createWriteStream(path));
  } catch (error) {
    if (!(error instanceof StdinTooLargeError)) throw error;
    await rm(folder, { recursive: true, force: true });
    stdinCopies.delete(folder);
    return { display: '-', path: storage.pathOf(key, 'get'), ref, problem: error.message };
  }
  if (copied === 0) {
    // Nothing piped in is a producer that failed (curl -f on a 404), not an empty upload: as one,
    // it was quarantined with exit 0, and the key's published outputs were withdrawn.
    return {
      display: '-',
      path: storage.pathOf(key, 'get'),
      ref,
      problem:
        'standard input was empty: nothing was read (did the command piping into it fail?); nothing was written or withdrawn',
    };
  }
  return { display: '-', path: storage.pathOf(key, 'get'), ref };
}

class StdinTooLargeError extends Error {
  constructor(maxBytes: number) {
    super(
      `standard input is more than the limit of ${maxBytes} bytes (limits.maxBytes of the pipeline document, or IMGPIPE_MAX_BYTES): refused after ${maxBytes} bytes, the rest not read`,
    );
  }
}
