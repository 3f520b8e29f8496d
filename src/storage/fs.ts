import { createHash, randomBytes } from 'node:crypto';
import { copyFile, mkdir, open, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  ObjectNotFoundError,
  ObjectTooLargeError,
  StorageError,
  type StorageOperation,
} from '../core/errors.ts';
import { contentTypeFor } from '../core/formats.ts';
import { walkFiles } from './files.ts';
import type { GetOptions, ObjectInfo, PutOptions, Storage, StoredObject } from './types.ts';

/**
 * A folder that behaves like a bucket: keys map to relative paths, ETags are the MD5 of the content
 * (what S3 reports for a single-part upload), writes go to a temporary file that is renamed into
 * place so a reader never sees half an object. Content types follow the extension; Cache-Control
 * has no meaning on disk and is not kept.
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

  /** Maps a key to a path inside the root, refusing keys that would escape it. */
  pathOf(key: string, operation: StorageOperation): string {
    const segments = key.split('/');
    if (
      key === '' ||
      key.includes('\0') ||
      key.includes('\\') ||
      segments.some((s) => s === '..' || s === '.' || s === '')
    ) {
      throw new StorageError(
        operation,
        this.locate(key),
        `The key ${JSON.stringify(key)} cannot be stored in a folder`,
        {
          retryable: false,
          code: 'storage/bad-key',
        },
      );
    }
    return join(this.root, ...segments);
  }

  async get(key: string, options: GetOptions = {}): Promise<StoredObject> {
    const path = this.pathOf(key, 'get');
    let handle: Awaited<ReturnType<typeof open>>;
    try {
      handle = await open(path, 'r');
    } catch (error) {
      throw this.failure('get', key, error);
    }
    try {
      const { size } = await handle.stat();
      if (options.maxBytes !== undefined && size > options.maxBytes) {
        throw new ObjectTooLargeError(this.locate(key), size, options.maxBytes);
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
      throw error instanceof StorageError ? error : this.failure('get', key, error);
    } finally {
      await handle.close();
    }
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    try {
      const object = await this.get(key);
      return this.info(key, object.body);
    } catch (error) {
      if (error instanceof ObjectNotFoundError) return undefined;
      throw error;
    }
  }

  async put(key: string, body: Uint8Array, _options: PutOptions): Promise<ObjectInfo> {
    const path = this.pathOf(key, 'put');
    const temporary = `${path}.${randomBytes(6).toString('hex')}.partial`;
    try {
      await mkdir(dirname(path), { recursive: true });
      await writeFile(temporary, body);
      await rename(temporary, path);
    } catch (error) {
      await rm(temporary, { force: true }).catch(() => undefined);
      throw this.failure('put', key, error);
    }
    return this.info(key, body);
  }

  async copyFrom(source: Storage, sourceKey: string, key: string): Promise<void> {
    if (!(source instanceof FsStorage)) {
      const object = await source.get(sourceKey);
      await this.put(key, object.body, { contentType: object.contentType ?? 'application/octet-stream' });
      return;
    }
    const from = source.pathOf(sourceKey, 'copy');
    const to = this.pathOf(key, 'copy');
    try {
      await mkdir(dirname(to), { recursive: true });
      await copyFile(from, to);
    } catch (error) {
      throw this.failure('copy', key, error);
    }
  }

  async *list(prefix = '', startAfter = ''): AsyncIterable<ObjectInfo> {
    let files: string[];
    try {
      files = await walkFiles(this.root, { hidden: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw this.failure('list', prefix, error);
    }
    const keys = files
      .filter((file) => !file.endsWith('.partial'))
      .map((file) => relative(this.root, file).split(sep).join('/'))
      .sort();
    for (const key of keys) {
      if (!key.startsWith(prefix) || key <= startAfter) continue;
      const info = await this.head(key);
      if (info) yield info;
    }
  }

  private info(key: string, body: Uint8Array): ObjectInfo {
    return {
      key,
      size: body.length,
      etag: createHash('md5').update(body).digest('hex'),
      contentType: contentTypeFor(key),
    };
  }

  private failure(operation: StorageOperation, key: string, error: unknown): StorageError {
    const code = (error as NodeJS.ErrnoException).code;
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
