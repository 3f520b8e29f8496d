import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { REPO_ROOT } from './cli.ts';

const run = promisify(execFile);

/**
 * Runs an ES module body in a fresh Node process (this Node, 24) and returns what it printed last
 * as JSON, with the process's peak RSS beside it. For tests about how much memory something takes:
 * peak RSS never goes down, so in the test's own process earlier tests would set it.
 * `imports` maps names to repository paths or Node modules, e.g. { processImage: 'src/pipeline/process-image.ts' }.
 */
export async function inFreshProcess<T>(
  imports: Record<string, string>,
  body: string,
): Promise<{ result: T; peakRssBytes: number }> {
  const lines = Object.entries(imports).map(
    ([name, path]) =>
      `const { ${name} } = await import(${JSON.stringify(path.startsWith('node:') ? path : `${REPO_ROOT}${path}`)});`,
  );
  const script = `${lines.join('\n')}
const result = await (async () => { ${body} })();
console.log(JSON.stringify({ result, peakRssBytes: process.resourceUsage().maxRSS * 1024 }));`;
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
    cwd: REPO_ROOT,
    maxBuffer: 16 * 1024 * 1024,
  });
  return JSON.parse(stdout.trim().split('\n').at(-1)!);
}
