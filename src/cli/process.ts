import { stat } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { performance } from 'node:perf_hooks';
import cliProgress from 'cli-progress';
import type { PipelineConfig } from '../core/config.ts';
import { describeError } from '../core/errors.ts';
import { BucketLayout, DEFAULT_QUARANTINE_PREFIX } from '../core/layout.ts';
import type { ObjectRef } from '../core/objects.ts';
import type { Encoder } from '../pipeline/process-image.ts';
import { type Outcome, processObject } from '../pipeline/process-object.ts';
import { walkFiles } from '../storage/files.ts';
import { FsStorage } from '../storage/fs.ts';
import { perBucket } from '../storage/types.ts';
import { type Column, formatBytes, formatMs, renderTable } from './table.ts';

/**
 * `imgpipe process`: the pipeline over local files into a local folder, with the same key layout,
 * manifests and quarantine as in S3. The output folder plays the output bucket, and quarantined
 * inputs go under its `quarantine/` prefix, as they would with one shared bucket.
 */

export interface ProcessCommandOptions {
  readonly inputs: readonly string[];
  readonly out: string;
  readonly config: PipelineConfig;
  readonly force: boolean;
  readonly encoder?: Encoder;
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WriteStream | NodeJS.WritableStream;
}

export interface FileResult {
  readonly path: string;
  readonly outcome?: Outcome;
  readonly error?: unknown;
  readonly ms: number;
}

/** A file to process: its path, and the object it is (the folder it was found in plays the bucket). */
interface Input {
  readonly path: string;
  readonly ref: ObjectRef;
}

/** Expands files and folders (recursively, skipping dot-files and the output folder) into inputs. */
export async function collectInputs(paths: readonly string[], out: string): Promise<Input[]> {
  const outRoot = resolve(out);
  const inputs: Input[] = [];
  for (const path of paths) {
    const absolute = resolve(path);
    let info: Awaited<ReturnType<typeof stat>>;
    try {
      info = await stat(absolute);
    } catch {
      throw new Error(`Input ${path} does not exist`);
    }
    if (info.isDirectory()) {
      for (const file of await walkFiles(absolute, { skip: outRoot })) {
        inputs.push({
          path: file,
          ref: { bucket: absolute, key: relative(absolute, file).split(sep).join('/') },
        });
      }
    } else {
      inputs.push({ path: absolute, ref: { bucket: dirname(absolute), key: basename(absolute) } });
    }
  }
  return inputs;
}

export async function runProcessCommand(
  options: ProcessCommandOptions,
): Promise<{ exitCode: number; results: FileResult[] }> {
  const inputs = await collectInputs(options.inputs, options.out);
  if (inputs.length === 0) {
    options.stderr.write(`No files found in ${options.inputs.join(', ')}\n`);
    return { exitCode: 1, results: [] };
  }
  const output = new FsStorage(options.out);
  const source = perBucket((folder) => new FsStorage(folder));
  const layout = new BucketLayout(options.config, DEFAULT_QUARANTINE_PREFIX);
  const tty = 'isTTY' in options.stderr && options.stderr.isTTY === true;
  const bar = tty
    ? new cliProgress.SingleBar(
        {
          stream: options.stderr as NodeJS.WriteStream,
          format: '{bar} {value}/{total} {file}',
          hideCursor: true,
          clearOnComplete: true,
        },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  bar?.start(inputs.length, 0, { file: '' });

  const results: FileResult[] = [];
  for (const [index, input] of inputs.entries()) {
    bar?.update(index, { file: input.ref.key });
    const started = performance.now();
    try {
      const outcome = await processObject(input.ref, {
        config: options.config,
        layout,
        source,
        output,
        quarantine: output,
        force: options.force,
        encoder: options.encoder,
      });
      results.push({ path: input.path, outcome, ms: performance.now() - started });
    } catch (error) {
      results.push({ path: input.path, error, ms: performance.now() - started });
    }
    if (!bar)
      options.stderr.write(
        `[${index + 1}/${inputs.length}] ${input.ref.key}: ${statusOf(results.at(-1)!)}\n`,
      );
  }
  bar?.update(inputs.length, { file: '' });
  bar?.stop();

  options.stdout.write(`${summarise(results, options.out)}\n`);
  const failed = results.filter((r) => r.error !== undefined).length;
  return { exitCode: failed > 0 ? 1 : 0, results };
}

function statusOf(result: FileResult): string {
  if (result.error !== undefined) return 'failed';
  const { outcome } = result;
  return outcome!.status === 'quarantined' ? `quarantined (${outcome!.reason})` : outcome!.status;
}

function summarise(results: readonly FileResult[], out: string): string {
  const columns: Column<FileResult>[] = [
    { header: 'file', value: (r) => relative(process.cwd(), r.path) || r.path },
    { header: 'outcome', value: statusOf },
    {
      header: 'size',
      value: (r) => (r.outcome && 'width' in r.outcome ? `${r.outcome.width}x${r.outcome.height}` : ''),
    },
    {
      header: 'outputs',
      value: (r) => r.outcome && ('outputs' in r.outcome ? r.outcome.outputs.length : 0),
      align: 'right',
    },
    {
      header: 'bytes in',
      value: (r) => (r.outcome?.bytesIn ? formatBytes(r.outcome.bytesIn) : ''),
      align: 'right',
    },
    {
      header: 'bytes out',
      value: (r) => (r.outcome?.bytesOut ? formatBytes(r.outcome.bytesOut) : ''),
      align: 'right',
    },
    { header: 'time', value: (r) => formatMs(r.ms), align: 'right' },
    {
      header: 'detail',
      value: (r) =>
        r.error !== undefined
          ? describeError(r.error)
          : r.outcome && 'message' in r.outcome
            ? r.outcome.message
            : '',
    },
  ];
  const count = (status: string) => results.filter((r) => statusOf(r).startsWith(status)).length;
  const totals = [
    `${results.length} file(s): ${count('processed')} processed, ${count('duplicate')} already done, ${count('quarantined')} quarantined, ${count('failed')} failed`,
    `outputs in ${resolve(out)}${count('quarantined') ? `, quarantined inputs in ${join(resolve(out), DEFAULT_QUARANTINE_PREFIX)}` : ''}`,
  ];
  return `${renderTable(columns, results)}\n\n${totals.join('\n')}`;
}
