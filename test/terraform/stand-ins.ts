import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** What a snippet run by {@link runWithStandIns} left: its exit, its output and the files it wrote. */
export interface SnippetRun {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Every file in the scratch folder (the snippet's working directory) after the run, by name. */
  readonly files: Readonly<Record<string, string>>;
}

/**
 * Runs a README's shell snippet with bash in a scratch folder, with stand-in commands first on
 * PATH: for the AWS CLI and Terraform calls no local server answers. `standIns(state)` gives each
 * command's bash script (the folder's path is `state`, where a stand-in records what it was asked);
 * `files` are written to the folder first. The folder is removed once its files are read back.
 */
export function runWithStandIns(
  snippet: string,
  standIns: (state: string) => Readonly<Record<string, string>>,
  options: {
    readonly bashFlags?: readonly string[];
    readonly env?: Readonly<Record<string, string>>;
    readonly files?: Readonly<Record<string, string>>;
  } = {},
): SnippetRun {
  const state = mkdtempSync(join(tmpdir(), 'imgpipe-snippet-'));
  try {
    const bin = join(state, 'bin');
    mkdirSync(bin);
    for (const [name, text] of Object.entries(standIns(state))) {
      writeFileSync(join(bin, name), `#!/usr/bin/env bash\n${text}`);
      chmodSync(join(bin, name), 0o755);
    }
    for (const [name, text] of Object.entries(options.files ?? {})) writeFileSync(join(state, name), text);
    const run = spawnSync('bash', [...(options.bashFlags ?? []), '-c', snippet], {
      cwd: state,
      env: { ...process.env, ...options.env, PATH: `${bin}:${process.env.PATH}` },
      encoding: 'utf8',
    });
    if (run.error) throw run.error;
    const files = Object.fromEntries(
      readdirSync(state, { withFileTypes: true })
        .filter((entry) => entry.isFile())
        .map((entry) => [entry.name, readFileSync(join(state, entry.name), 'utf8')]),
    );
    return { status: run.status, stdout: run.stdout, stderr: run.stderr, files };
  } finally {
    rmSync(state, { recursive: true, force: true });
  }
}
