import { spawn } from 'node:child_process';
import { CLI, REPO_ROOT, type Run } from './cli.ts';

/**
 * Runs the imgpipe command under a real pseudo-terminal, as a person at a terminal runs it:
 * util-linux `script` allocates the pty (stdout and stderr are both the terminal, so what the
 * terminal receives comes back merged in `stdout`). `stty` sets the terminal's size first.
 * `onOutput` sees the output as it grows and may type into the terminal (e.g. Ctrl-C as "\x03").
 */
export function runInPty(
  args: readonly string[],
  options: {
    cwd?: string;
    env?: NodeJS.ProcessEnv;
    columns?: number;
    timeoutMs?: number;
    onOutput?: (output: string, type: (text: string) => void) => void;
  } = {},
): Promise<Run> {
  const command = [process.execPath, CLI, ...args].map(shellQuote).join(' ');
  const size = `stty cols ${options.columns ?? 120} rows 40`;
  // The terminal decides about colour, not the test runner's environment: Node turns colour off
  // for FORCE_COLOR=0, NO_COLOR, NODE_DISABLE_COLORS and an unnamed CI (CI=true), so none leak in.
  const {
    FORCE_COLOR: _force,
    NO_COLOR: _no,
    NODE_DISABLE_COLORS: _disable,
    CI: _ci,
    ...inherited
  } = process.env;
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qfec', `${size}; exec ${command}`, '/dev/null'], {
      cwd: options.cwd ?? REPO_ROOT,
      env: { ...inherited, TERM: 'xterm-256color', ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    const type = (text: string) => child.stdin.write(text);
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
      options.onOutput?.(stdout, type);
    });
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`imgpipe ${args.join(' ')} did not finish in time under a pty\n${stdout}\n${stderr}`));
    }, options.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      child.stdin.destroy();
      resolve({ code, stdout, stderr });
    });
  });
}

function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}
