import { createHash, randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import {
  copyFile,
  type FileHandle,
  mkdir,
  open,
  rename,
  rm,
  rmdir,
  stat,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  ObjectChangedError,
  ObjectNotFoundError,
  ObjectTooLargeError,
  StorageError,
  type StorageOperation,
} from '../core/errors.ts';
import { contentTypeFor } from '../core/formats.ts';
import { walkFiles } from './files.ts';
import { invalidKeyReason, keyToNames, leavesFolder, namesToKey, temporaryName } from './fs-keys.ts';
import {
  type CopyOptions,
  copyThroughMemory,
  type GetOptions,
  type ObjectInfo,
  type PutOptions,
  type Storage,
  type StoredObject,
} from './types.ts';

/** The temporary files this process is writing (FsStorage's writes), by path. */
const writing = new Set<string>();

/**
 * Removes, at once, the temporary files this process is writing: for a signal's handler, which
 * exits right after (`imgpipe process` on Ctrl-C). Otherwise a write cut short leaves its
 * temporary file (`%~<hex>`) in the output folder, which no later run removes.
 */
export function removeTemporaryFilesNow(): void {
  for (const path of writing) rmSync(path, { force: true });
  writing.clear();
}

/**
 * A folder that behaves like a bucket: keys map to relative paths, ETags are the MD5 of the content
 * (what S3 reports for a single-part upload), writes go to a temporary file that is renamed into
 * place so a reader never sees half an object. Content types follow the extension; Cache-Control
 * has no meaning on disk and is not kept.
 *
 * Any key S3 accepts can be stored, except one whose `..` segments lead out of the folder: plain
 * keys are plain paths, and what a folder cannot hold (names over 255 bytes, empty, `.` and `..`
 * segments, NUL) is encoded reversibly (fs-keys.ts), so `list` returns the keys that were put.
 * What a folder still cannot do: hold both `a` and `a/b` (a name is a file or a folder), or tell
 * apart keys that differ only in case or Unicode normalisation where the file system does not.
 */
export class FsStorage implements Storage {
  readonly root: string;
  readonly location: string;

  constructor(root: string) {
    this.root = resolve(root);
    this.location = pathToFileURL(this.root).href;
  }

  locate(key: string): string {
    return `${this.location}/${key}`;
  }

  /** Maps a key to a path inside the root, refusing keys S3 would refuse and keys that would leave it. */
  pathOf(key: string, operation: StorageOperation): string {
    const invalid = invalidKeyReason(key);
    const problem = invalid
      ? `cannot be stored: ${invalid}`
      : leavesFolder(key)
        ? `cannot be stored in a folder: it would leave ${this.root}`
        : undefined;
    if (problem) {
      throw new StorageError(operation, this.locate(key), `The key ${JSON.stringify(key)} ${problem}`, {
        retryable: false,
        code: 'storage/bad-key',
      });
    }
    return join(this.root, ...keyToNames(key));
  }

  async get(key: string, options: GetOptions = {}): Promise<StoredObject> {
    const path = this.pathOf(key, 'get');
    let handle: Awaited<ReturnType<typeof open>>;
    try {
      handle = await open(path, 'r');
    } catch (error) {
      throw await this.failure('get', key, error);
    }
    try {
      const { size } = await handle.stat();
      if (options.maxBytes !== undefined && size > options.maxBytes) {
        // With its ETag, as S3 reports it: the pipeline tells by it a file quarantined as too large
        // by an earlier run (already done) from new content, which it copies and records again.
        throw new ObjectTooLargeError(
          this.locate(key),
          size,
          options.maxBytes,
          (await digestHandle(handle)).etag,
        );
      }
      const body = new Uint8Array(size);
      let read = 0;
      while (read < size) {
        const { bytesRead } = await handle.read(body, read, size - read, read);
        if (bytesRead === 0) break;
        read += bytesRead;
      }
      return { ...this.info(key, body.subarray(0, read)), body: body.subarray(0, read) };
    } catch (error) {
      throw error instanceof StorageError ? error : await this.failure('get', key, error);
    } finally {
      await handle.close();
    }
  }

  /** The file's size and MD5, streamed: a head never holds the object in memory. */
  async head(key: string): Promise<ObjectInfo | undefined> {
    const path = this.pathOf(key, 'head');
    try {
      const { size, etag } = await digestFile(path);
      return { key, size, etag, contentType: contentTypeFor(key) };
    } catch (error) {
      const failure = await this.failure('head', key, error);
      if (failure instanceof ObjectNotFoundError) return undefined;
      throw failure;
    }
  }

  async put(key: string, body: Uint8Array, _options: PutOptions): Promise<ObjectInfo> {
    const path = this.pathOf(key, 'put');
    try {
      await this.writeAtomically(path, (temporary) => writeFile(temporary, body));
    } catch (error) {
      throw await this.failure('put', key, error);
    }
    return this.info(key, body);
  }

  async copyFrom(source: Storage, sourceKey: string, key: string, options: CopyOptions = {}): Promise<void> {
    if (!(source instanceof FsStorage)) {
      return copyThroughMemory(source, sourceKey, this, key, options);
    }
    const from = source.pathOf(sourceKey, 'copy');
    const to = this.pathOf(key, 'copy');
    try {
      await this.writeAtomically(to, async (temporary) => {
        await copyFile(from, temporary);
        // The copy is what is checked (streamed, so a file over the size limit is never held whole).
        if (options.ifMatch !== undefined && (await md5OfFile(temporary)) !== options.ifMatch)
          throw new ObjectChangedError('copy', source.locate(sourceKey), options.ifMatch);
      });
    } catch (error) {
      if (error instanceof StorageError) throw error;
      // No such file to copy: the source is named, not the copy.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT' && (await kindOf(from)) !== 'file')
        throw new ObjectNotFoundError('copy', source.locate(sourceKey), { cause: error });
      throw await this.failure('copy', key, error);
    }
  }

  async delete(key: string): Promise<void> {
    const path = this.pathOf(key, 'delete');
    try {
      await unlink(path);
    } catch (error) {
      // No such file, or a folder of other keys (`a` when `a/b` exists): either way no object `key`.
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR' && (await kindOf(path)) !== 'folder')
        throw await this.failure('delete', key, error);
    }
    // A bucket has no folders: remove the ones this delete left empty, up to the root.
    for (let folder = dirname(path); folder.startsWith(this.root + sep); folder = dirname(folder)) {
      try {
        await rmdir(folder);
      } catch {
        break;
      }
    }
  }

  async *list(prefix = '', startAfter = ''): AsyncIterable<ObjectInfo> {
    let files: string[];
    try {
      files = await walkFiles(this.root, { hidden: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw await this.failure('list', prefix, error);
    }
    const after = Buffer.from(startAfter);
    const keys = files
      .map((file) => namesToKey(relative(this.root, file).split(sep)))
      .filter((key): key is string => key?.startsWith(prefix) === true)
      .map((key) => ({ key, bytes: Buffer.from(key) }))
      .filter(({ bytes }) => Buffer.compare(bytes, after) > 0)
      .sort((a, b) => Buffer.compare(a.bytes, b.bytes));
    for (const { key } of keys) {
      const info = await this.head(key);
      if (info) yield info;
    }
  }

  /**
   * Writes through a temporary file beside the final one, renamed into place. The temporary name is
   * short, so a final name of 255 bytes still works. A concurrent delete may remove the folder
   * between mkdir and the write (it removes folders it leaves empty): then the folder is made again.
   */
  private async writeAtomically(path: string, write: (temporary: string) => Promise<void>): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const temporary = join(dirname(path), temporaryName(randomBytes(8).toString('hex')));
      writing.add(temporary);
      try {
        await mkdir(dirname(path), { recursive: true });
        await write(temporary);
        await rename(temporary, path);
        return;
      } catch (error) {
        await rm(temporary, { force: true }).catch(() => undefined);
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || attempt === 3) throw error;
      } finally {
        writing.delete(temporary);
      }
    }
  }

  /** What stands in the way of writing `key`: an object whose key is a folder of it, or keys under it. */
  private async clashWith(key: string): Promise<string> {
    const names = keyToNames(key);
    for (let i = 1; i < names.length; i++) {
      const blocking = namesToKey(names.slice(0, i));
      if (blocking !== undefined && (await kindOf(join(this.root, ...names.slice(0, i)))) === 'file')
        return `the object ${JSON.stringify(blocking)}`;
    }
    return `keys under ${JSON.stringify(`${key}/`)}`;
  }

  private info(key: string, body: Uint8Array): ObjectInfo {
    return {
      key,
      size: body.length,
      etag: createHash('md5').update(body).digest('hex'),
      contentType: contentTypeFor(key),
    };
  }

  private async failure(operation: StorageOperation, key: string, error: unknown): Promise<StorageError> {
    const code = (error as NodeJS.ErrnoException).code;
    const writing = operation === 'put' || operation === 'copy';
    if (writing && (code === 'EISDIR' || code === 'ENOTDIR' || code === 'EEXIST')) {
      // S3 keeps `a` and `a/b` side by side; a folder cannot (a name is a file or a folder).
      const clash = await this.clashWith(key);
      return new StorageError(
        operation,
        this.locate(key),
        `Cannot ${operation} ${this.locate(key)}: a folder cannot hold ${JSON.stringify(key)} beside ${clash}`,
        { retryable: false, cause: error },
      );
    }
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') {
      return new ObjectNotFoundError(operation, this.locate(key), { cause: error });
    }
    // Out of space, too many open files and the like can pass; permissions and bad paths cannot.
    const retryable = ['EMFILE', 'ENFILE', 'ENOSPC', 'EAGAIN', 'EBUSY', 'EIO'].includes(code ?? '');
    return new StorageError(
      operation,
      this.locate(key),
      `Cannot ${operation} ${this.locate(key)}: ${(error as Error).message}`,
      {
        retryable,
        cause: error,
      },
    );
  }
}

async function kindOf(path: string): Promise<'file' | 'folder' | undefined> {
  try {
    return (await stat(path)).isDirectory() ? 'folder' : 'file';
  } catch {
    return undefined;
  }
}

async function md5OfFile(path: string): Promise<string> {
  return (await digestFile(path)).etag;
}

/** The MD5 (and size) of an open file, read a chunk at a time (never held whole); left open. */
async function digestHandle(handle: FileHandle): Promise<{ size: number; etag: string }> {
  const hash = createHash('md5');
  let size = 0;
  for await (const chunk of handle.createReadStream({ start: 0, autoClose: false })) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { size, etag: hash.digest('hex') };
}

async function digestFile(path: string): Promise<{ size: number; etag: string }> {
  const handle = await open(path, 'r');
  try {
    return await digestHandle(handle);
  } finally {
    await handle.close();
  }
}
