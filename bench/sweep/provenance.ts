import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { relative } from 'node:path';

/** Where a sweep's numbers come from: enough to tell two sweeps apart and to repeat one. */
export interface Provenance {
  readonly date: string;
  readonly git: { readonly commit: string; readonly dirty: boolean } | { readonly error: string };
  /** sha256 over the sorted (name, sha256 of content) pairs of the corpus files. */
  readonly corpusHash: string;
  readonly cpuModel: string;
  /** Logical CPUs of the machine, and those this process may use (cpuset, cgroup quota). */
  readonly cores: number;
  readonly usableCpus: number;
  readonly node: string;
  readonly platform: string;
  /** cgroup used to enforce the CPU share, or why none was. */
  readonly cgroup: string;
  /** Hash of the pipeline configuration the runs used (src/config: the manifest's configHash). */
  readonly configHash?: string;
  readonly loadAverageAtStart: readonly number[];
  readonly command: string;
}

export function gitState(cwd = process.cwd()): Provenance['git'] {
  try {
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd, encoding: 'utf8' }).trim();
    const status = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], {
      cwd,
      encoding: 'utf8',
    });
    return { commit, dirty: status.trim() !== '' };
  } catch (error) {
    return { error: error instanceof Error ? error.message.split('\n')[0]! : String(error) };
  }
}

/** Independent of the order and place the files were given in; sensitive to names and bytes. */
export function corpusHash(files: readonly string[], base = process.cwd()): string {
  const entries = files
    .map((file) => ({
      name: relative(base, file),
      digest: createHash('sha256').update(readFileSync(file)).digest('hex'),
    }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const hash = createHash('sha256');
  for (const { name, digest } of entries) hash.update(`${name}\0${digest}\n`);
  return hash.digest('hex');
}

export function cpuModel(): string {
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    const model = /^model name\s*:\s*(.+)$/m.exec(info)?.[1];
    if (model) return model.trim();
  } catch {
    // not Linux: fall through
  }
  return cpus()[0]?.model ?? 'unknown';
}

export function collectProvenance(input: {
  readonly files: readonly string[];
  readonly usableCpus: number;
  readonly cgroup: string;
  readonly configHash?: string;
  readonly argv: readonly string[];
  readonly corpusHashOverride?: string;
}): Provenance {
  return {
    date: new Date().toISOString(),
    git: gitState(),
    corpusHash: input.corpusHashOverride ?? corpusHash(input.files),
    cpuModel: cpuModel(),
    cores: cpus().length,
    usableCpus: input.usableCpus,
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    cgroup: input.cgroup,
    ...(input.configHash ? { configHash: input.configHash } : {}),
    loadAverageAtStart: loadavg().map((value) => Math.round(value * 100) / 100),
    command: ['npm run bench -- sweep', ...input.argv].join(' '),
  };
}
