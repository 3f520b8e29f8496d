import { relative } from 'node:path';
import type { Reporter, SerializedError, TestModule } from 'vitest/node';

/**
 * Names every failed test again after the summary, one line each with its error's first line. A CI
 * log that keeps only its last lines (and vitest prints the failures above the summary) otherwise
 * says how many tests failed but not which.
 */
export default class FailureListReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>, unhandled: ReadonlyArray<SerializedError>): void {
    const lines: string[] = [];
    for (const module of modules) {
      const file = relative(process.cwd(), module.moduleId);
      for (const error of module.errors()) lines.push(`${file}: ${firstLine(error.message)}`);
      for (const test of module.children.allTests('failed')) {
        lines.push(`${file} > ${test.fullName}: ${firstLine(test.result().errors?.[0]?.message)}`);
      }
    }
    for (const error of unhandled) lines.push(`unhandled: ${firstLine(error.message)}`);
    if (lines.length === 0) return;
    process.stdout.write(
      `\nFailed, named again for logs that keep only their end:\n  ${lines.join('\n  ')}\n`,
    );
  }
}

function firstLine(message: string | undefined): string {
  const line = (message ?? 'no message').split('\n')[0]!.trim();
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}
