import { parseArgs } from 'node:util';
import { loadPipelineConfig } from '../config/index.ts';
import type { PipelineConfig } from '../core/config.ts';
import { ConfigError } from '../core/errors.ts';
import { VERSION } from '../core/runtime.ts';
import { DEFAULT_DEV_PORT, defaultSamples, runDevCommand } from './dev.ts';
import { runProcessCommand } from './process.ts';

const USAGE = `imgpipe ${VERSION}: resize and re-encode images with WASM codecs, as the Lambda function does

Usage:
  imgpipe process <file or folder>... --out <dir> [--config <file>] [--force]
      Run the pipeline on local files into <dir> (same layout and manifests as in S3).
      Exit status 1 if any input failed for a reason other than being quarantined.

  imgpipe dev [--port <n>] [--host <addr>] [--dir <data dir>] [--fresh] [--once] [--verbose] [--config <file>]
      Start a local S3-compatible server with source, output and quarantine buckets, deliver its
      object-created events to the Lambda handler, upload the sample photos and keep serving
      (--once: exit after the samples). Defaults: port ${DEFAULT_DEV_PORT}, host 127.0.0.1, dir .imgpipe-dev.

Options:
  --config <file>  Pipeline configuration (JSON, see README). Without it, IMGPIPE_CONFIG or
                   IMGPIPE_CONFIG_FILE and the other IMGPIPE_* variables apply, else the defaults.
  --force          Reprocess inputs whose manifest is current.
  -h, --help       Show this help.  -v, --version  Show the version.
`;

function loadConfig(path: string | undefined): PipelineConfig {
  return loadPipelineConfig(process.env, path === undefined ? undefined : { path, setting: '--config' });
}

export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
    process.stdout.write(USAGE);
    return command === undefined ? 2 : 0;
  }
  if (command === '-v' || command === '--version') {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  try {
    if (command === 'process') {
      const { values, positionals } = parseArgs({
        args: [...rest],
        allowPositionals: true,
        options: {
          out: { type: 'string', short: 'o' },
          config: { type: 'string', short: 'c' },
          force: { type: 'boolean' },
        },
      });
      if (positionals.length === 0) throw new UsageError('process needs at least one file or folder');
      if (!values.out) throw new UsageError('process needs --out <dir>');
      const { exitCode } = await runProcessCommand({
        inputs: positionals,
        out: values.out,
        config: loadConfig(values.config),
        force: values.force ?? false,
        stdout: process.stdout,
        stderr: process.stderr,
      });
      return exitCode;
    }
    if (command === 'dev') {
      const { values } = parseArgs({
        args: [...rest],
        options: {
          port: { type: 'string', short: 'p', default: String(DEFAULT_DEV_PORT) },
          host: { type: 'string', default: '127.0.0.1' },
          dir: { type: 'string', default: '.imgpipe-dev' },
          fresh: { type: 'boolean', default: false },
          once: { type: 'boolean', default: false },
          verbose: { type: 'boolean', default: false },
          config: { type: 'string', short: 'c' },
        },
      });
      const port = Number(values.port);
      if (!Number.isInteger(port) || port < 0 || port > 65_535) {
        throw new UsageError(
          `Expected a port number between 0 and 65535 for --port but received ${JSON.stringify(values.port)}`,
        );
      }
      return await runDevCommand({
        host: values.host,
        port,
        directory: values.dir,
        fresh: values.fresh,
        once: values.once,
        verbose: values.verbose,
        config: loadConfig(values.config),
        samples: await defaultSamples(),
        stdout: process.stdout,
      });
    }
    throw new UsageError(`Unknown command ${JSON.stringify(command)}`);
  } catch (error) {
    if (
      error instanceof UsageError ||
      error instanceof ConfigError ||
      (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')
    ) {
      process.stderr.write(
        `imgpipe: ${(error as Error).message}\n\n${error instanceof ConfigError ? '' : USAGE}`,
      );
      return 2;
    }
    process.stderr.write(`imgpipe: ${(error as Error).stack ?? String(error)}\n`);
    return 1;
  }
}

class UsageError extends Error {}
