import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { DEFAULT_PRICES, provisionedCostPer1000Images } from '../../../../bench/sweep/cost.ts';
import { deriveProvisionedConcurrency } from '../../../../bench/sweep/derive.ts';
import type { SweepDocument } from '../../../../bench/sweep/document.ts';
import { main } from '../../../../bench/sweep/main.ts';

/**
 * The whole local sweep, small: one size and one photo, real child processes (inside a cgroup
 * where this machine allows it, modelled otherwise). Durations are not asserted: only that the
 * four outputs are written and agree with each other.
 */
const hasTerraform = spawnSync('terraform', ['version'], { encoding: 'utf8' }).status === 0;

/** `variable "<name>" { ... }` as written in a .tf file (its braces balanced). */
function variableBlock(text: string, name: string): string {
  const start = text.indexOf(`variable "${name}" {`);
  if (start < 0) throw new Error(`no variable ${name}`);
  let depth = 0;
  for (let i = text.indexOf('{', start); i < text.length; i++) {
    if (text[i] === '{') depth++;
    else if (text[i] === '}' && --depth === 0) return text.slice(start, i + 1);
  }
  throw new Error(`variable ${name} does not end`);
}

/** One size, one photo, one run. */
const ONE_SMALL_RUN = [
  '--memory',
  '1769',
  '--corpus',
  'fixtures/photos/portrait-friends-dogs.jpg',
  '--runs',
  '1',
];

describe('npm run bench -- sweep', () => {
  it('writes sweep.json, the Markdown report, the SVG chart and the tfvars file', async () => {
    const out = mkdtempSync(join(tmpdir(), 'imgpipe-sweep-'));
    const tfvars = join(out, 'envs', 'test', 'tuning.tfvars.json');
    const code = await main([
      ...ONE_SMALL_RUN,
      '--out',
      out,
      '--tfvars',
      tfvars,
      '--wait-quiet',
      '0',
      // One 1.7 MP photo says nothing of how long a 24 MP one (the default) takes: its time x 14
      // could need more than the 110 s the deployment accepts on a loaded machine.
      '--min-pixels',
      '1000000',
    ]);
    expect(code).toBe(0);
    for (const file of ['sweep.json', 'sweep.md', 'sweep.svg'])
      expect(existsSync(join(out, file))).toBe(true);
    const doc = JSON.parse(readFileSync(join(out, 'sweep.json'), 'utf8')) as SweepDocument;
    expect(doc.rows).toHaveLength(1);
    const [row] = doc.rows;
    expect(['measured', 'modelled']).toContain(row!.mode);
    expect(row!.images[0]).toMatchObject({
      image: 'fixtures/photos/portrait-friends-dogs.jpg',
      pixels: 1065 * 1600,
    });
    expect(row!.images[0]!.warm).toHaveLength(1);
    expect(doc.provenance.corpusHash).toMatch(/^[0-9a-f]{64}$/);
    expect(doc.choice?.memoryMb).toBe(1769);
    const vars = JSON.parse(readFileSync(tfvars, 'utf8')) as Record<string, number>;
    expect(Object.keys(vars)).toEqual([
      'lambda_memory_size',
      'lambda_timeout',
      'lambda_provisioned_concurrency',
      'max_input_pixels',
    ]);
    expect(vars).toEqual(doc.tfvars);
    expect(readFileSync(join(out, 'sweep.md'), 'utf8')).toContain(
      `| 1769 | 1.00 | 1 | ${row!.mode === 'modelled' ? 'MODELLED' : 'measured'} |`,
    );
  });

  it('exits with 2 and names the flag for a bad value', async () => {
    expect(await main(['--runs', 'many'])).toBe(2);
    expect(await main(['--corpus', 'no/such/folder', '--wait-quiet', '0'])).toBe(2);
    expect(await main(['--from', 'no/such/sweep.json'])).toBe(2);
    expect(await main(['--from', 'x.json', '--memory', '512'])).toBe(2);
  });

  it('refuses an --out or --tfvars it cannot write before the sweep runs, naming it', async () => {
    // They failed once every size had run (exit 1, the results lost): in AWS, after updating,
    // publishing and invoking the function at each size.
    const dir = mkdtempSync(join(tmpdir(), 'imgpipe-sweep-'));
    const file = join(dir, 'a-file');
    writeFileSync(file, 'x');
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const run = async (...flags: string[]) => {
      stderr.mockClear();
      const code = await main([...ONE_SMALL_RUN, '--wait-quiet', '0', ...flags]);
      return [code, stderr.mock.calls.map(([text]) => String(text)).join('')];
    };
    try {
      expect(await run('--out', join(file, 'out'))).toEqual([
        2,
        expect.stringMatching(
          new RegExp(
            `^Expected a path whose folder can be written to for --out but received "${join(file, 'out')}" of type string \\(ENOTDIR`,
          ),
        ),
      ]);
      expect(await run('--out', join(dir, 'out'), '--tfvars', join(file, 'tuning.tfvars.json'))).toEqual([
        2,
        expect.stringMatching(
          /^Expected a path whose folder can be written to for --tfvars but received .* \((ENOTDIR|EEXIST)/,
        ),
      ]);
      expect(await run('--out', join(dir, 'out'), '--tfvars', dir)).toEqual([
        2,
        expect.stringMatching(/^Expected a file path for --tfvars but received .* \(it is a folder\)/),
      ]);
      expect(existsSync(join(dir, 'out', 'sweep.json'))).toBe(false);
      // Choosing again from a stored sweep checks them the same way.
      stderr.mockClear();
      expect(await main(['--from', 'docs/benchmarks/sweep.json', '--out', join(file, 'out')])).toBe(2);
      expect(stderr.mock.calls.map(([text]) => String(text)).join('')).toMatch(
        /^Expected a path whose folder can be written to for --out but received .* \(ENOTDIR/,
      );
    } finally {
      stderr.mockRestore();
    }
  });
});

describe('npm run bench -- sweep --from', () => {
  const stored = 'docs/benchmarks/sweep.json';

  async function chooseAgain(argv: string[]): Promise<{ code: number; stdout: string }> {
    let stdout = '';
    const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      stdout += String(chunk);
      return true;
    });
    try {
      return { code: await main(argv), stdout };
    } finally {
      write.mockRestore();
    }
  }

  it('labels the stored run as stored and writes no tuning file unless asked', async () => {
    const out = mkdtempSync(join(tmpdir(), 'imgpipe-sweep-from-'));
    const tuning = readFileSync('terraform/envs/dev/tuning.tfvars.json', 'utf8');
    const { code, stdout } = await chooseAgain(['--from', stored, '--out', out]);
    expect(code).toBe(0);
    expect(stdout).not.toMatch(/^Sweep took/m);
    expect(stdout).toContain(`Chosen again from ${stored}, a sweep of `);
    expect(stdout).toMatch(/that took 9 min 25 s/);
    expect(stdout).not.toMatch(/^Warning: The working tree has uncommitted changes/m);
    expect(stdout).toMatch(/^Warning: The stored sweep ran on a working tree with uncommitted changes/m);
    expect(stdout).toContain(
      'No Terraform file written: pass --tfvars <path> to write one from this choice.',
    );
    expect(readFileSync('terraform/envs/dev/tuning.tfvars.json', 'utf8')).toBe(tuning);
    const doc = JSON.parse(readFileSync(join(out, 'sweep.json'), 'utf8')) as SweepDocument;
    expect(doc.chosenAgainFrom).toBe(stored);

    const tfvars = join(out, 'tuning.tfvars.json');
    const asked = await chooseAgain(['--from', stored, '--out', out, '--tfvars', tfvars]);
    expect(asked.code).toBe(0);
    expect(existsSync(tfvars)).toBe(true);
  });

  it('with --rps, prices every size with the provisioned concurrency it needs, and says so', async () => {
    const out = mkdtempSync(join(tmpdir(), 'imgpipe-sweep-from-rps-'));
    const { code, stdout } = await chooseAgain(['--from', stored, '--out', out, '--rps', '1']);
    expect(code).toBe(0);
    expect(stdout).toContain('Costs ($/1k) are with provisioned concurrency, as deployed at --rps 1');
    expect(stdout).toMatch(/^Chosen: \d+ MB \(strategy cost, arm64 provisioned-concurrency prices/m);
    const doc = JSON.parse(readFileSync(join(out, 'sweep.json'), 'utf8')) as SweepDocument;
    for (const row of doc.rows) {
      const p95 = row.stats!.p95Ms;
      for (const architecture of ['arm64', 'x86_64'] as const) {
        expect(row.stats!.costPer1000[architecture]).toBe(
          provisionedCostPer1000Images(
            row.images,
            row.memoryMb,
            architecture,
            DEFAULT_PRICES,
            1,
            deriveProvisionedConcurrency(1, p95),
          ),
        );
      }
    }
  });

  it.runIf(hasTerraform)(
    "with --rps, writes a provisioned concurrency the environment's reserved concurrency admits, by Terraform's own validation",
    async () => {
      // dev with reserved_concurrent_executions 4: Terraform requires at least twice the provisioned
      // concurrency. At --rps 1 the cheapest size (1769 MB) needs 3; the sweep wrote 3 and `terraform
      // plan` refused the file. A size needing at most 2 must be chosen instead.
      const out = mkdtempSync(join(tmpdir(), 'imgpipe-sweep-from-reserved-'));
      const env = join(out, 'envs', 'dev');
      mkdirSync(env, { recursive: true });
      const settingsFile = join(env, 'terraform.tfvars.json');
      writeFileSync(settingsFile, JSON.stringify({ environment: 'dev', reserved_concurrent_executions: 4 }));
      const tfvars = join(env, 'tuning.tfvars.json');
      const { code, stdout } = await chooseAgain([
        '--from',
        stored,
        '--out',
        out,
        '--rps',
        '1',
        '--tfvars',
        tfvars,
      ]);
      expect(code).toBe(0);
      const tuning = JSON.parse(readFileSync(tfvars, 'utf8')) as { lambda_provisioned_concurrency: number };
      expect(tuning.lambda_provisioned_concurrency).toBeGreaterThan(0);
      // Terraform's own check: the module's two variables and their validations, given what the
      // deployment passes in the direct mode (terraform/deployment/main.tf).
      const module = join(out, 'module');
      mkdirSync(module);
      const variables = readFileSync('terraform/modules/imgpipe/variables.tf', 'utf8');
      writeFileSync(
        join(module, 'variables.tf'),
        ['provisioned_concurrent_executions', 'reserved_concurrent_executions']
          .map((name) => variableBlock(variables, name))
          .join('\n\n'),
      );
      writeFileSync(
        join(module, 'values.tfvars.json'),
        JSON.stringify({
          provisioned_concurrent_executions: tuning.lambda_provisioned_concurrency,
          reserved_concurrent_executions: 4,
        }),
      );
      const terraform = (...args: string[]) =>
        spawnSync('terraform', [`-chdir=${module}`, ...args, '-input=false', '-no-color'], {
          encoding: 'utf8',
        });
      expect(terraform('init').status).toBe(0);
      const plan = terraform('plan', '-var-file=values.tfvars.json');
      expect(plan.status, plan.stderr).toBe(0);
      expect(stdout).toContain(
        `provisioned concurrency the deployment accepts (reserved_concurrent_executions 4 in ${settingsFile} must be at least twice it)`,
      );

      // A reservation no size can serve at --rps 1 (0 allows no provisioned concurrency): no choice,
      // and the reason names the setting.
      writeFileSync(settingsFile, JSON.stringify({ environment: 'dev', reserved_concurrent_executions: 0 }));
      const none = await chooseAgain(['--from', stored, '--out', out, '--rps', '1', '--tfvars', tfvars]);
      expect(none.code).toBe(1);
      expect(none.stdout).toContain(
        `no size serves --rps 1 with at most 0 provisioned concurrency, the most the deployment accepts (reserved_concurrent_executions 0 in ${settingsFile} must be at least twice it)`,
      );
      // The workflow mode gives the provisioned concurrency to the Process function, which has no
      // reservation: unconstrained.
      writeFileSync(settingsFile, JSON.stringify({ mode: 'workflow', reserved_concurrent_executions: 0 }));
      expect(
        (await chooseAgain(['--from', stored, '--out', out, '--rps', '1', '--tfvars', tfvars])).code,
      ).toBe(0);
    },
    60_000,
  );

  it("publishes the stored sweep's choice: the row marked chosen and the tuning file it wrote", () => {
    const readme = readFileSync('bench/README.md', 'utf8');
    const section = readme.slice(readme.indexOf('### A sweep of this machine'));
    const stored = JSON.parse(readFileSync('docs/benchmarks/sweep.json', 'utf8')) as SweepDocument;
    const marked = [...section.matchAll(/^\| (\d+) \|.*<- chosen \|$/gm)].map((m) => Number(m[1]));
    expect(marked).toEqual([stored.choice!.memoryMb]);
    const block = /```json\n([^`]+)```/.exec(section)![1]!;
    expect(JSON.parse(block)).toEqual(stored.tfvars);
    expect(JSON.parse(readFileSync('terraform/envs/dev/tuning.tfvars.json', 'utf8'))).toEqual(stored.tfvars);
  });

  it('is documented with the path a fresh clone has', () => {
    const readme = readFileSync('bench/README.md', 'utf8');
    for (const [, path] of readme.matchAll(/--from ([\w./-]+\.json)/g))
      expect(existsSync(path!), path).toBe(true);
  });
});
