import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { access, mkdir, readFile, stat } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { S3Client } from '@aws-sdk/client-s3';
import { UsageError } from '../../src/cli/args.ts';
import { buildS3Notification } from '../../src/cli/local-s3.ts';
import { loadPipelineConfig, SETTINGS } from '../../src/config/index.ts';
import { ConfigError, invalidSetting } from '../../src/core/errors.ts';
import { availableCpus } from '../../src/pipeline/cpus.ts';
import { collectCorpus } from '../lib/corpus.ts';
import { writeFileAtomically } from '../lib/write-atomic.ts';
import { type AwsInput, probeObject, runAwsSweep } from './aws.ts';
import { detectCgroup } from './cgroup.ts';
import { decide, type ProvisionedLimit } from './decide.ts';
import type { SweepDocument } from './document.ts';
import { installInterruptHandlers, runLocalSweep } from './local.ts';
import { parseSweepOptions, SWEEP_COMMAND, type SweepOptions, USAGE } from './options.ts';
import { createProgress } from './progress.ts';
import { collectProvenance, type Provenance } from './provenance.ts';
import { renderConsoleSummary, renderMarkdownReport } from './report.ts';
import { summariseRow } from './rows.ts';
import { renderSvg } from './svg.ts';
import { buildTfvars, renderTfvars, type TuningTfvars } from './tfvars.ts';
import type { Architecture, SweepRow } from './types.ts';

/**
 * `npm run bench -- sweep`: the memory sweep (bench/README.md, "Memory sweep"). Exit status 0 when
 * a size was chosen and every output written, 1 when no size could be chosen or the AWS function
 * could not be restored, 2 for a usage error.
 */
export async function main(argv: string[]): Promise<number> {
  let options: RunOptions;
  try {
    options = parseSweepOptions(argv);
  } catch (error) {
    if (!(error instanceof UsageError || error instanceof ConfigError)) throw error;
    process.stderr.write(
      `${SWEEP_COMMAND.command}: ${(error as Error).message}\nSee '${SWEEP_COMMAND.command} --help'.\n`,
    );
    return 2;
  }
  if (options.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  try {
    if (options.from !== undefined) return await chooseAgain(options, options.from);
    await checkWritable(options);
    // Read before the sweep: a settings file that cannot be read is named before any size runs.
    options = await withProvisionedLimit(options);
    return options.aws ? await sweepAws(options) : await sweepLocal(options);
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    return error instanceof ConfigError ? 2 : 1;
  }
}

const DEFAULT_MAX_PIXELS = SETTINGS.maxPixels.default;

/** The flags, and what the environment the tuning file is for allows (provisionedLimitOf). */
type RunOptions = SweepOptions & { readonly provisionedLimit?: ProvisionedLimit };

async function withProvisionedLimit(options: RunOptions): Promise<RunOptions> {
  const provisionedLimit =
    options.tfvars === undefined ? undefined : await provisionedLimitOf(options.tfvars);
  return provisionedLimit ? { ...options, provisionedLimit } : options;
}

/**
 * What the environment of the tuning file allows of provisioned concurrency: its settings beside
 * the tuning file (terraform/envs/<env>/terraform.tfvars.json, passed to the same plan with
 * -var-file). In the direct mode a reserved_concurrent_executions other than -1 must be at least
 * twice lambda_provisioned_concurrency (validation of terraform/modules/imgpipe/variables.tf: old
 * and new version both hold it during a release); the sweep wrote a provisioned concurrency above
 * half of it, and `terraform plan` refused the file. Undefined without such a file or reservation,
 * and in the workflow mode (the provisioned concurrency is then the Process function's, which has
 * none). The defaults are the deployment's (terraform/deployment: mode "direct", reservation -1).
 */
export async function provisionedLimitOf(tfvars: string): Promise<ProvisionedLimit | undefined> {
  const file = join(dirname(tfvars), 'terraform.tfvars.json');
  let settings: Record<string, unknown>;
  try {
    settings = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw invalidSetting(
      '--tfvars',
      "a tuning file whose environment's terraform.tfvars.json beside it can be read as JSON",
      tfvars,
      `${file}: ${(error as Error).message}`,
    );
  }
  const mode = settings.mode ?? 'direct';
  const reserved = settings.reserved_concurrent_executions ?? -1;
  if (mode !== 'direct' || typeof reserved !== 'number' || reserved < 0) return undefined;
  return {
    max: Math.floor(reserved / 2),
    because: `reserved_concurrent_executions ${reserved} in ${file} must be at least twice it`,
  };
}

async function sweepLocal(options: RunOptions): Promise<number> {
  const images = await collectCorpus(options.corpus);
  const config = loadPipelineConfig(
    process.env,
    options.config === undefined ? {} : { file: { path: options.config, setting: '--config' } },
  );
  const detection = detectCgroup();
  if (detection.available && detection.removedStale) {
    process.stderr.write(
      `Removed ${detection.removedStale.length} cgroup(s) left by earlier sweeps that were killed: ${detection.removedStale.join(', ')}\n`,
    );
  }
  const usableCpus = availableCpus({});
  const provenance = collectProvenance({
    files: images,
    usableCpus,
    cgroup: detection.available
      ? `cgroup v${detection.mount.version} CPU quota (${detection.mount.path}) for sizes up to ${usableCpus} vCPU; larger sizes MODELLED`
      : `no CPU quota could be enforced (${detection.reason}); every size MODELLED`,
    configHash: config.hash,
    argv: process.argv.slice(3),
  });
  const started = performance.now();
  const uninstall = installInterruptHandlers((line) => process.stderr.write(`${line}\n`));
  let rows: Omit<SweepRow, 'stats'>[];
  try {
    rows = await runLocalSweep({
      memories: options.memories,
      images,
      runs: options.runs,
      detection,
      machineCpus: usableCpus,
      ...(options.config !== undefined ? { configFile: resolve(options.config) } : {}),
      maxForeignCpu: options.maxForeignCpu,
      waitQuietMs: options.waitQuietSeconds * 1000,
      maxSecondsPerImage: config.limits.maxSecondsPerImage,
      progress: createProgress(process.stderr),
    });
  } finally {
    uninstall();
  }
  const warnings = [
    `arm64 costs use the durations measured here on ${provenance.cpuModel} (x86_64): Graviton runs the same WASM at a different speed; confirm with --function on an arm64 deployment.`,
    'Durations cover processImage only (decode, resize, encode); the function also reads the source from S3 and writes the variants, and loads the AWS SDK and Powertools at init.',
  ];
  return finish(options, provenance, rows, (performance.now() - started) / 1000, warnings, {
    target: 'local',
    inputs: images.map((image) => relative(process.cwd(), image) || image),
    configuredMaxPixels: config.limits.maxPixels,
    maxSecondsPerImage: config.limits.maxSecondsPerImage,
  });
}

async function sweepAws(options: RunOptions): Promise<number> {
  const aws = options.aws!;
  const region = aws.region ?? /^arn:aws[\w-]*:lambda:([\w-]+):/.exec(aws.functionName)?.[1];
  const lambda = new LambdaClient(region ? { region } : {});
  const s3 = aws.eventObjects.length > 0 ? new S3Client(region ? { region } : {}) : undefined;
  const inputs: AwsInput[] = [];
  const warnings: string[] = [];
  for (const file of aws.payloads) {
    let payload: Buffer;
    try {
      payload = await readFile(file);
      JSON.parse(payload.toString('utf8'));
    } catch (error) {
      throw invalidSetting('--payload', 'a readable JSON file', file, (error as Error).message);
    }
    inputs.push({ label: file, payload });
  }
  for (const object of aws.eventObjects) {
    const label = `s3://${object.bucket}/${object.key}`;
    const event = buildS3Notification({ bucket: object.bucket, key: object.key });
    let size: { width: number; height: number } | undefined;
    try {
      size = await probeObject(s3!, object);
    } catch (error) {
      warnings.push(
        `Could not read the header of ${label} (${(error as Error).message}): its pixel count is unknown.`,
      );
    }
    inputs.push({
      label,
      payload: Buffer.from(JSON.stringify(event)),
      object,
      ...(size ? { width: size.width, height: size.height, pixels: size.width * size.height } : {}),
    });
  }
  const hash = createHash('sha256');
  for (const input of inputs) hash.update(`${input.label}\0`).update(input.payload).update('\n');
  const controller = new AbortController();
  const onSignal = () => {
    if (controller.signal.aborted) process.exit(130);
    process.stderr.write(
      '\nInterrupted: restoring the function configuration (Ctrl-C again to leave it as it is)\n',
    );
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const started = performance.now();
  let result: Awaited<ReturnType<typeof runAwsSweep>>;
  try {
    result = await runAwsSweep({
      lambda,
      ...(s3 ? { s3 } : {}),
      functionName: aws.functionName,
      memories: options.memories,
      runs: options.runs,
      inputs,
      deleteManifest: aws.deleteManifest,
      progress: createProgress(process.stderr),
      signal: controller.signal,
      log: (line) => process.stderr.write(`${line}\n`),
    });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  const provenance: Provenance = collectProvenance({
    files: [],
    usableCpus: 0,
    cgroup: "not used: durations are the deployed function's REPORT lines",
    argv: process.argv.slice(3),
    corpusHashOverride: hash.digest('hex'),
  });
  warnings.push(...result.cleanupProblems);
  const configured = Number(result.environment.IMGPIPE_MAX_PIXELS);
  const code = await finish(
    options,
    provenance,
    result.rows,
    (performance.now() - started) / 1000,
    warnings,
    {
      target: 'aws',
      functionName: result.functionArn ?? aws.functionName,
      functionArchitecture: result.architecture,
      inputs: inputs.map((input) => input.label),
      configuredMaxPixels:
        Number.isSafeInteger(configured) && configured > 0 ? configured : DEFAULT_MAX_PIXELS,
    },
  );
  return result.cleanupProblems.length > 0 ? 1 : code;
}

interface Target {
  readonly target: 'local' | 'aws';
  readonly functionName?: string;
  readonly functionArchitecture?: Architecture;
  readonly inputs: readonly string[];
  readonly configuredMaxPixels: number;
  /** limits.maxSecondsPerImage of the configuration the runs used (local sweeps). */
  readonly maxSecondsPerImage?: number;
}

async function finish(
  options: RunOptions,
  provenance: Provenance,
  partialRows: readonly Omit<SweepRow, 'stats'>[],
  elapsedSeconds: number,
  runWarnings: readonly string[],
  target: Target,
  /** With --from: the sweep file the rows, provenance and duration come from. */
  storedIn?: string,
): Promise<number> {
  const warnings = [...runWarnings];
  const summary = {
    headroom: options.headroom,
    prices: options.prices,
    coldStartRate: options.coldStartRate,
    requestsPerSecond: options.rps,
    maxForeignCpu: options.maxForeignCpu,
    machineCpus: provenance.usableCpus,
  };
  const rows: SweepRow[] = partialRows.map((row) => {
    const stats = summariseRow(row, summary);
    return stats ? { ...row, stats } : row;
  });
  const decision = decide(rows, {
    strategy: options.strategy,
    weight: options.weight,
    architecture: options.architecture,
    requestsPerSecond: options.rps,
    timeoutMargin: options.timeoutMargin,
    headroom: options.headroom,
    minPixels: options.minPixels,
    configuredMaxPixels: target.configuredMaxPixels,
    ...(target.maxSecondsPerImage !== undefined ? { maxSecondsPerImage: target.maxSecondsPerImage } : {}),
    ...(options.provisionedLimit ? { provisionedLimit: options.provisionedLimit } : {}),
  });
  let tfvars: TuningTfvars | undefined;
  if (decision.derived) {
    const d = decision.derived;
    const row = rows.find((r) => r.memoryMb === d.memoryMb)!;
    if (row.mode === 'modelled') {
      warnings.push(
        `The chosen size, ${d.memoryMb} MB, is MODELLED, not measured: confirm it with --function on AWS.`,
      );
    }
    const largest = Math.max(0, ...row.images.map((i) => i.pixels ?? 0));
    if (d.pixelFit.kind === 'fit' && largest > 0 && d.maxInputPixels > 2 * largest) {
      warnings.push(
        `max_input_pixels (${(d.maxInputPixels / 1e6).toFixed(0)} MP) extrapolates the memory fit ${(d.maxInputPixels / largest).toFixed(1)}x beyond the largest input (${(largest / 1e6).toFixed(1)} MP); add a larger image to the corpus to check it.`,
      );
    }
    try {
      tfvars = buildTfvars(d);
    } catch (error) {
      warnings.push(`No Terraform file written: ${(error as Error).message}`);
    }
  }
  if ('commit' in provenance.git && provenance.git.dirty) {
    warnings.push(
      storedIn === undefined
        ? 'The working tree has uncommitted changes: the commit alone does not describe the code that ran.'
        : 'The stored sweep ran on a working tree with uncommitted changes: its commit alone does not describe the code that ran.',
    );
  }
  const doc: SweepDocument = {
    schema: 'imgpipe-bench-sweep/1',
    provenance,
    settings: {
      target: target.target,
      ...(target.functionName ? { functionName: target.functionName } : {}),
      ...(target.functionArchitecture ? { functionArchitecture: target.functionArchitecture } : {}),
      memories: options.memories,
      inputs: target.inputs,
      runs: options.runs,
      strategy: options.strategy,
      ...(options.strategy === 'balanced' ? { weight: options.weight } : {}),
      architecture: options.architecture,
      rps: options.rps,
      timeoutMargin: options.timeoutMargin,
      headroom: options.headroom,
      minPixels: options.minPixels,
      prices: options.prices,
      coldStartRate: options.coldStartRate,
      ...(target.target === 'local' ? { maxForeignCpu: options.maxForeignCpu } : {}),
      ...(options.tfvars !== undefined ? { tfvars: options.tfvars } : {}),
      configuredMaxPixels: target.configuredMaxPixels,
      ...(target.maxSecondsPerImage !== undefined ? { maxSecondsPerImage: target.maxSecondsPerImage } : {}),
    },
    rows,
    ...(decision.derived ? { choice: decision.derived } : { noChoice: decision.reason }),
    ...(tfvars ? { tfvars: { ...tfvars } } : {}),
    warnings,
    runWarnings,
    elapsedSeconds,
    ...(storedIn !== undefined ? { chosenAgainFrom: storedIn } : {}),
  };
  const files = await writeOutputs(doc, options, tfvars);
  process.stdout.write(renderConsoleSummary(doc, files));
  if (tfvars && options.tfvars === undefined) {
    process.stdout.write('No Terraform file written: pass --tfvars <path> to write one from this choice.\n');
  }
  return decision.derived && tfvars ? 0 : 1;
}

/**
 * --out and --tfvars, checked before the sweep: a folder that cannot be made or written failed only
 * once every size had run (in AWS: updated, published and invoked), and the results were lost.
 */
async function checkWritable(options: SweepOptions): Promise<void> {
  const folder = async (flag: string, value: string, dir: string) => {
    try {
      await mkdir(dir, { recursive: true });
      await access(dir, constants.W_OK);
    } catch (error) {
      throw invalidSetting(flag, `a path whose folder can be written to`, value, (error as Error).message);
    }
  };
  await folder('--out', options.out, options.out);
  if (options.tfvars === undefined) return;
  await folder('--tfvars', options.tfvars, dirname(resolve(options.tfvars)));
  const existing = await stat(options.tfvars).catch(() => undefined);
  if (existing?.isDirectory())
    throw invalidSetting('--tfvars', 'a file path', options.tfvars, 'it is a folder');
}

async function writeOutputs(
  doc: SweepDocument,
  options: SweepOptions,
  tfvars: TuningTfvars | undefined,
): Promise<string[]> {
  // Every file is rendered before any is written, and each is written atomically: a write that
  // failed half way (the disk full, Ctrl-C) truncated the file in place, and with --from and --out
  // its own folder that file was the stored sweep.json itself, the rows of a sweep of minutes.
  const files: [string, string][] = [
    [join(options.out, 'sweep.json'), `${JSON.stringify(doc, null, 2)}\n`],
    [join(options.out, 'sweep.md'), renderMarkdownReport(doc, 'sweep.svg')],
    [join(options.out, 'sweep.svg'), renderSvg(doc)],
  ];
  if (tfvars && options.tfvars !== undefined) files.push([options.tfvars, renderTfvars(tfvars)]);
  for (const [path, text] of files) await writeFileAtomically(path, text);
  return files.map(([path]) => path);
}

/** --from: the rows of an earlier sweep, chosen again with the flags given now. */
async function chooseAgain(options: RunOptions, file: string): Promise<number> {
  let doc: SweepDocument;
  try {
    doc = JSON.parse(await readFile(file, 'utf8')) as SweepDocument;
  } catch (error) {
    throw invalidSetting('--from', 'a sweep.json written by the sweep', file, (error as Error).message);
  }
  if (doc.schema !== 'imgpipe-bench-sweep/1') {
    throw invalidSetting(
      '--from',
      'a sweep.json with schema imgpipe-bench-sweep/1',
      file,
      `schema ${String(doc.schema)}`,
    );
  }
  // Checked as a sweep's are, so a path that cannot be written is named (exit 2), not an EACCES.
  await checkWritable(options);
  const limited = await withProvisionedLimit(options);
  const rows = doc.rows.map(({ stats: _stats, ...row }) => row);
  return finish(
    { ...limited, memories: doc.settings.memories, runs: doc.settings.runs },
    doc.provenance,
    rows,
    doc.elapsedSeconds,
    doc.runWarnings ?? doc.warnings.filter((w) => !REGENERATED.some((prefix) => w.startsWith(prefix))),
    {
      target: doc.settings.target,
      ...(doc.settings.functionName ? { functionName: doc.settings.functionName } : {}),
      ...(doc.settings.functionArchitecture
        ? { functionArchitecture: doc.settings.functionArchitecture }
        : {}),
      inputs: doc.settings.inputs,
      configuredMaxPixels: doc.settings.configuredMaxPixels ?? DEFAULT_MAX_PIXELS,
      ...(doc.settings.maxSecondsPerImage !== undefined
        ? { maxSecondsPerImage: doc.settings.maxSecondsPerImage }
        : {}),
    },
    file,
  );
}

/** Warnings finish() writes again from the rows (files written before runWarnings existed). */
const REGENERATED = [
  'The chosen size',
  'max_input_pixels (',
  'The timeout was capped',
  'No Terraform file',
  'The working tree',
  'The stored sweep',
];
