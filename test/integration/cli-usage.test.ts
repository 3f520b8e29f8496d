import { execFile, execFileSync } from 'node:child_process';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { LocalIssuer } from '../../src/cli/local-oidc.ts';
import { SIGNING_KEYS_PLACEHOLDER } from '../../src/handlers/transform.ts';
import { signature } from '../../src/handlers/transform-request.ts';
import { REPO_ROOT, runCli } from '../support/cli.ts';
import { fixturePath } from '../support/fixtures.ts';

/**
 * The command line's manners: help for each command, one-line errors with a hint, suggestions for
 * typos, no stack trace for an everyday mistake, and the documented exit statuses. Each case runs
 * the real binary.
 */
const tempDir = () => mkdtempSync(join(tmpdir(), 'imgpipe-usage-'));
const lines = (text: string) => text.trimEnd().split('\n');
const noStack = (text: string) => expect(text).not.toMatch(/^\s+at /m);

describe('imgpipe help', () => {
  it.each([
    ['process', ['process', '--help']],
    ['process', ['process', '-h']],
    ['dev', ['dev', '--help']],
    ['reprocess', ['reprocess', '--help']],
    ['process', ['help', 'process']],
    ['dev token', ['dev', 'token', '--help']],
    // It printed imgpipe dev's help.
    ['dev token', ['help', 'dev', 'token']],
  ])('prints the help of %s for %j and exits 0', async (command, args) => {
    const run = await runCli(args);
    expect(run.code).toBe(0);
    expect(run.stderr).toBe('');
    expect(run.stdout).toContain(`Usage: imgpipe ${command} `);
    expect(run.stdout).toContain('Examples:');
    expect(run.stdout).toMatch(/^ {2}-h, --help +/m);
  });

  it('lists the short flags of process with their long names', async () => {
    const { stdout } = await runCli(['process', '--help']);
    for (const flag of ['-o, --out <dir>', '-c, --config <file>', '-j, --concurrency <n>', '-f, --force'])
      expect(stdout).toContain(flag);
    expect(stdout).toContain('--dry-run');
  });

  it('documents --fresh in the help of dev', async () => {
    const { stdout } = await runCli(['dev', '--help']);
    expect(stdout).toMatch(/--fresh +.*only what imgpipe dev created/s);
    expect(stdout).toContain('-p, --port <n>');
  });

  it('documents the workflow mode in the help of dev: scan when clamd is there, moderation off', async () => {
    const { stdout } = await runCli(['dev', '--help']);
    expect(stdout).toMatch(/^ +--workflow +Uploads through the per-upload Step Functions workflow/m);
    expect(stdout).toContain('The malware scan runs when clamd is installed');
    expect(stdout).toContain('content moderation is always off locally');
    expect(stdout).toMatch(/^ +--scan +/m);
    expect(stdout).toMatch(/^ +--no-scan +/m);
  });

  it('says in the help of reprocess what Ctrl-C does and how to stop a run', async () => {
    const { stdout } = await runCli(['reprocess', '--help']);
    expect(stdout).toContain('Ctrl-C stops following it, not the run');
    expect(stdout).toContain('aws stepfunctions stop-execution --execution-arn <arn>');
    for (const flag of [
      '--only-stale',
      '-f, --force',
      '-j, --concurrency <n>',
      '--state-machine <arn>',
      '--endpoint <url>',
    ])
      expect(stdout).toContain(flag);
  });

  it('prints the global help on stdout with exit 0 when run without arguments', async () => {
    const run = await runCli([]);
    expect([run.code, run.stderr]).toEqual([0, '']);
    expect(run.stdout).toMatch(/^Usage: imgpipe <command>/m);
    for (const command of ['process', 'dev', 'status', 'reprocess', 'sign'])
      expect(run.stdout).toMatch(new RegExp(`^ {2}${command} +\\S`, 'm'));
    expect(run.stdout).toContain('imgpipe <command> --help');
  });

  // The global help listed every command but imgpipe dev token, which the API's quick start needs.
  it.each([[[]], [['--help']], [['help']]])(
    'lists imgpipe dev token in the global help for %j',
    async (args) => {
      const run = await runCli(args);
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(/^ {2}dev token +\S/m);
    },
  );

  // zsh, macOS's shell, stops at an unquoted ? or * that matches no file ("no matches found"), as
  // bash does with failglob: the curl examples of imgpipe dev and imgpipe dev token did, at ?status=.
  it.each([
    [[]],
    [['process', '--help']],
    [['dev', '--help']],
    [['dev', 'token', '--help']],
    [['status', '--help']],
    [['reprocess', '--help']],
    [['sign', '--help']],
  ])('prints examples for %j that a shell with failglob runs as written', async (args) => {
    const { stdout } = await runCli(args);
    const examples = /^Examples:\n((?: {2}\S.*\n)+)/m.exec(stdout)?.[1]?.trimEnd().split('\n') ?? [];
    expect(examples.length, stdout).toBeGreaterThan(0);
    const cwd = tempDir();
    try {
      for (const example of examples) {
        // The commands are stubs: only the shell's own reading of the line is tried.
        const script = `curl() { :; }; imgpipe() { :; }; npx() { :; }; terraform() { :; }; ${example.trim()}`;
        const shell = await promisify(execFile)('bash', ['-O', 'failglob', '-c', script], { cwd }).then(
          () => '',
          (error: { stderr: string }) => error.stderr,
        );
        expect(shell, example).toBe('');
      }
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });

  it.each([['-v'], ['-V'], ['--version']])('prints the version for %s', async (flag) => {
    const run = await runCli([flag]);
    expect([run.code, run.stdout]).toEqual([0, '0.1.0\n']);
  });
});

describe('imgpipe usage errors', () => {
  it('suggests the command meant by a typo, in one line and a hint', async () => {
    const run = await runCli(['proces', 'in', '--out', 'x']);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(lines(run.stderr)).toEqual([
      'imgpipe: unknown command "proces" (did you mean process?)',
      "See 'imgpipe --help'.",
    ]);
  });

  // imgpipe help dev tokn printed imgpipe dev's help with exit 0; imgpipe dev tokn and imgpipe token
  // said nothing of imgpipe dev token.
  it.each([
    [
      ['dev', 'tokn'],
      'imgpipe dev: unexpected argument "tokn" (did you mean token?)',
      "See 'imgpipe dev --help'.",
    ],
    [
      ['help', 'dev', 'tokn'],
      'imgpipe dev: unexpected argument "tokn" (did you mean token?)',
      "See 'imgpipe dev --help'.",
    ],
    [['token'], 'imgpipe: unknown command "token" (did you mean dev token?)', "See 'imgpipe --help'."],
    [
      ['help', 'token'],
      'imgpipe: unknown command "token" (did you mean dev token?)',
      "See 'imgpipe --help'.",
    ],
  ])('suggests imgpipe dev token for %j', async (args, line, hint) => {
    const run = await runCli(args);
    expect([run.code, run.stdout]).toEqual([2, '']);
    expect(lines(run.stderr)).toEqual([line, hint]);
  });

  it('names an unknown option, suggests the right one and points to the command help', async () => {
    const run = await runCli(['process', 'in', '--outt', 'x']);
    expect(run.code).toBe(2);
    expect(lines(run.stderr)).toEqual([
      'imgpipe process: unknown option --outt (did you mean --out?)',
      "See 'imgpipe process --help'.",
    ]);
  });

  it('says how to give a file whose name begins with a dash, rather than suggest a flag', async () => {
    // It read as -d -a -s -h ...: "unknown option -d (did you mean -o?)".
    const run = await runCli(['process', '-dash.jpg', '--out', 'x']);
    expect(run.code).toBe(2);
    expect(lines(run.stderr)[0]).toBe(
      'imgpipe process: unknown option -dash.jpg: a file whose name begins with - is given as ./-dash.jpg or after --',
    );
  });

  it('says which option lacks its value', async () => {
    const run = await runCli(['process', 'in', '--out']);
    expect(run.code).toBe(2);
    expect(lines(run.stderr)[0]).toBe('imgpipe process: --out needs a value: --out <dir>');
  });

  it('says how to give a value that begins with a dash, rather than that there is none', async () => {
    // It was "--name needs a value: --name <key>", with the value right there.
    const run = await runCli(['process', '-', '--name', '-x.jpg', '--out', 'x']);
    expect(run.code).toBe(2);
    expect(lines(run.stderr)[0]).toBe(
      'imgpipe process: --name needs a value: --name <key>; a value that begins with - is given as --name=-x.jpg',
    );
    // A flag where the value should be is a value left out: no such hint.
    const flag = await runCli(['process', 'in', '--out', '--json']);
    expect(lines(flag.stderr)[0]).toBe('imgpipe process: --out needs a value: --out <dir>');
  });

  it('refuses a single-value flag given twice, naming it and both values, in every command', async () => {
    const process = await runCli(['process', 'in', '-o', 'out', '-o', 'out2'], { cwd: tempDir() });
    expect(process.code).toBe(2);
    expect(lines(process.stderr)[0]).toBe(
      'imgpipe process: --out is given twice, as "out" and "out2": give it once',
    );
    const sign = await runCli(['sign', 'a.jpg', '--base', 'https://cdn.example.com', '--q', '80', '--q=90']);
    expect([sign.code, sign.stdout]).toEqual([2, '']);
    expect(lines(sign.stderr)[0]).toBe('imgpipe sign: --q is given twice, as "80" and "90": give it once');
  });

  it('takes a negative number as the value it is, refused by its range, not as a missing value', async () => {
    const run = await runCli(['process', 'x.jpg', '--out', 'out', '-j', '-3'], { cwd: tempDir() });
    expect(run.code).toBe(2);
    expect(lines(run.stderr)[0]).toBe(
      'imgpipe process: Expected integer between 1 and 64 for --concurrency but received "-3" of type string',
    );
  });

  it('refuses a count with spaces around it, as sign refuses such a number, and states each range in --help', async () => {
    const run = await runCli(['process', 'x.jpg', '--out', 'out', '-j', ' 2'], { cwd: tempDir() });
    expect(run.code).toBe(2);
    expect(lines(run.stderr)[0]).toBe(
      'imgpipe process: Expected integer between 1 and 64 for --concurrency but received " 2" of type string',
    );
    const processHelp = await runCli(['process', '--help']);
    expect(processHelp.stdout.replace(/\s+/g, ' ')).toContain('Files in flight at once, 1 to 64');
    const statusHelp = await runCli(['status', '--help']);
    expect(statusHelp.stdout.replace(/\s+/g, ' ')).toContain('List at most n objects, 1 to 10000');
  });

  it('explains a missing --out and a missing input without the global help', async () => {
    const missingOut = await runCli(['process', 'x.jpg']);
    expect(missingOut.code).toBe(2);
    expect(lines(missingOut.stderr)).toEqual([
      'imgpipe process: --out <dir> is required: where the outputs go',
      "See 'imgpipe process --help'.",
    ]);
    const noInput = await runCli(['process', '--out', 'x']);
    expect(lines(noInput.stderr)[0]).toBe(
      'imgpipe process: give at least one file, folder, glob or - (standard input)',
    );
  });

  it('reports a missing input file in one line with exit 2', async () => {
    const dir = tempDir();
    const run = await runCli(['process', 'nonexist.jpg', '--out', 'out'], { cwd: dir });
    expect(run.code).toBe(2);
    noStack(run.stderr);
    expect(lines(run.stderr)[0]).toBe('imgpipe process: no such file or folder: nonexist.jpg');
  });

  it('refuses an empty input argument instead of processing the current folder', async () => {
    // `imgpipe process "$photo" -o out` with $photo unset processed (and quarantined copies of)
    // every file under the current folder: '' was resolved as the folder itself.
    const dir = tempDir();
    copyFileSync(fixturePath('edge/formats/1x1.jpg'), join(dir, 'a.jpg'));
    writeFileSync(join(dir, 'notes.txt'), 'not an image');
    const run = await runCli(['process', '', '--out', 'out'], { cwd: dir });
    expect(run.code).toBe(2);
    noStack(run.stderr);
    expect(lines(run.stderr)[0]).toBe(
      "imgpipe process: an input is the empty string '' (an unset shell variable?), which names no file: give a file, folder, glob or -",
    );
    expect(readdirSync(dir).sort()).toEqual(['a.jpg', 'notes.txt']);
  });

  it('refuses an empty --dir instead of keeping the buckets in the current folder', async () => {
    // `imgpipe dev --dir "$DATA"` with $DATA unset made the current folder the data folder: the
    // buckets, events file and issuer key were written among its files.
    const dir = tempDir();
    writeFileSync(join(dir, 'notes.txt'), 'mine');
    for (const args of [
      ['dev', '--dir', '', '--port', '0', '--once', '--no-samples'],
      ['dev', 'token', '--dir', ''],
      ['dev', '--workflow', '--clamav-db', '', '--port', '0', '--once', '--no-samples'],
    ]) {
      const run = await runCli(args, { cwd: dir });
      const flag = args.includes('--clamav-db') ? '--clamav-db' : '--dir';
      expect([run.code, lines(run.stderr)[0]], args.join(' ')).toEqual([
        2,
        `imgpipe ${args[1] === 'token' ? 'dev token' : 'dev'}: ${flag} is the empty string '' (an unset shell variable?), which names no folder: give a folder`,
      ]);
    }
    expect(readdirSync(dir)).toEqual(['notes.txt']);
  });

  it('says what is wrong with a --name key, not only that it is unusable', async () => {
    // Each was "is not a usable key: use a relative path like photos/cat.jpg", also for a/b//c.jpg
    // and a\\b.jpg, which are relative paths.
    const dir = tempDir();
    const image = readFileSync(fixturePath('edge/formats/1x1.jpg'));
    for (const [name, problem] of [
      ['/a.jpg', 'it begins with /: use a relative path like photos/cat.jpg'],
      ['a//b.jpg', 'it has an empty segment (// or a / at an end)'],
      ['a/', 'it has an empty segment (// or a / at an end)'],
      ['a/../b.jpg', 'it has a . or .. segment, which a path resolves'],
      ['a\\b.jpg', 'it holds \\, which Windows and browsers read as /'],
    ] as const) {
      const run = await runCli(['process', '-', '--name', name, '--out', 'out', '--dry-run'], {
        cwd: dir,
        input: image,
      });
      expect([run.code, lines(run.stderr)[0]], name).toEqual([
        2,
        `imgpipe process: --name ${JSON.stringify(name)} is not a usable key: ${problem}`,
      ]);
    }
  });

  it('refuses an input that is no file or folder instead of leaving it out', async () => {
    const dir = tempDir();
    copyFileSync(fixturePath('edge/formats/1x1.jpg'), join(dir, 'a.jpg'));
    const run = await runCli(['process', '/dev/null', 'a.jpg', '--out', 'out'], { cwd: dir });
    expect(run.code).toBe(2);
    noStack(run.stderr);
    expect(lines(run.stderr)[0]).toBe(
      "imgpipe process: /dev/null is a device, not a file or folder: give the image's file",
    );
    expect(readdirSync(dir)).toEqual(['a.jpg']);
  });

  it("points a named pipe given as an input (/dev/stdin, a shell's <(curl ...)) to -", async () => {
    const dir = tempDir();
    execFileSync('mkfifo', [join(dir, 'pipe')]);
    const run = await runCli(['process', 'pipe', '--out', 'out'], { cwd: dir });
    expect(run.code).toBe(2);
    expect(lines(run.stderr)[0]).toBe(
      "imgpipe process: pipe is a named pipe, not a file or folder: give the image's file, or give - and pipe the image in (... | imgpipe process - --name <key>)",
    );
  });

  it('says --out is the input folder, naming it, rather than that it holds no files', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'in'));
    copyFileSync(fixturePath('edge/formats/1x1.jpg'), join(dir, 'in', 'a.jpg'));
    const run = await runCli(['process', 'in', '-o', 'in'], { cwd: dir });
    expect(run.code).toBe(2);
    noStack(run.stderr);
    expect(lines(run.stderr)[0]).toBe(
      'imgpipe process: --out in is the input folder in: its outputs would be mixed with the inputs; give another --out',
    );
    const spelled = await runCli(['process', 'in', '-o', './in/'], { cwd: dir });
    expect(lines(spelled.stderr)[0]).toContain('--out ./in/ is the input folder in');
    expect(readdirSync(join(dir, 'in'))).toEqual(['a.jpg']);
  });

  it("refuses an input folder inside --out, rather than take a run's outputs for inputs", async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'in'));
    copyFileSync(fixturePath('edge/formats/1x1.png'), join(dir, 'in', 'a.png'));
    expect((await runCli(['process', 'in', '-o', 'out', '-q'], { cwd: dir })).code).toBe(0);
    const before = readdirSync(join(dir, 'out', 'small')).sort();
    const run = await runCli(['process', 'out/small', '-o', 'out'], { cwd: dir });
    expect(run.code).toBe(2);
    noStack(run.stderr);
    expect(lines(run.stderr)[0]).toBe(
      `imgpipe process: the input folder ${join('out', 'small')} is inside --out out, where outputs, manifests and quarantined copies are written: give another --out or input`,
    );
    expect(readdirSync(join(dir, 'out', 'small')).sort()).toEqual(before);
  });

  it('takes an input folder inside --out that no output goes into (site/images with -o site)', async () => {
    // Outputs go to site/small, site/manifests and site/quarantine: site/images holds none of them.
    const dir = tempDir();
    mkdirSync(join(dir, 'site', 'images'), { recursive: true });
    copyFileSync(fixturePath('edge/formats/1x1.png'), join(dir, 'site', 'images', 'a.png'));
    const run = await runCli(['process', 'site/images', '-o', 'site', '-q'], { cwd: dir });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(readdirSync(join(dir, 'site', 'images'))).toEqual(['a.png']);
    expect(readdirSync(join(dir, 'site', 'small'))).toContain('a.png.webp');
    // A folder a run writes into stays refused, whatever it is named by.
    const again = await runCli(['process', 'site/small', '-o', 'site'], { cwd: dir });
    expect(again.code).toBe(2);
    expect(lines(again.stderr)[0]).toContain(
      `the input folder ${join('site', 'small')} is inside --out site`,
    );
    // So does a file named in one (an output, a manifest, a quarantined copy), but not one beside
    // them.
    const output = await runCli(['process', 'site/small/a.png.webp', '-o', 'site'], { cwd: dir });
    expect(output.code).toBe(2);
    expect(lines(output.stderr)[0]).toBe(
      `imgpipe process: the input file ${join('site', 'small', 'a.png.webp')} is inside --out site, where outputs, manifests and quarantined copies are written: give another --out or input`,
    );
    copyFileSync(fixturePath('edge/formats/1x1.png'), join(dir, 'site', 'b.png'));
    const beside = await runCli(['process', 'site/b.png', '-o', 'site', '-q'], { cwd: dir });
    expect([beside.code, beside.stderr]).toEqual([0, '']);
  });

  it('reports a glob that matches nothing in one line', async () => {
    const dir = tempDir();
    const run = await runCli(['process', 'photos/*.jpg', '--out', 'out'], { cwd: dir });
    expect(run.code).toBe(2);
    noStack(run.stderr);
    expect(lines(run.stderr)[0]).toBe('imgpipe process: no file matches photos/*.jpg');
  });

  it('quotes file names with their control characters escaped in an error', async () => {
    const dir = tempDir();
    const name = 'a\x1b[2Jb.jpg';
    for (const folder of ['e1', 'e2']) {
      mkdirSync(join(dir, folder));
      writeFileSync(join(dir, folder, name), 'x');
    }
    const run = await runCli(['process', 'e1', 'e2', '--out', 'out'], { cwd: dir });
    expect(run.code).toBe(2);
    expect(lines(run.stderr)[0]).toBe(
      'imgpipe process: e1/a\\x1b[2Jb.jpg and e2/a\\x1b[2Jb.jpg would both be written as a\\x1b[2Jb.jpg; process them into different --out folders',
    );
  });

  it('escapes the control characters of the file names an error quotes in its stack too (--verbose, DEBUG)', async () => {
    const dir = tempDir();
    const name = 'a\x1b[2Jb\nc.jpg';
    for (const folder of ['e1', 'e2']) {
      mkdirSync(join(dir, folder));
      writeFileSync(join(dir, folder, name), 'x');
    }
    for (const run of [
      await runCli(['process', 'e1', 'e2', '--out', 'out', '--verbose'], { cwd: dir }),
      await runCli(['process', 'e1', 'e2', '--out', 'out'], { cwd: dir, env: { DEBUG: 'imgpipe' } }),
    ]) {
      expect(run.code).toBe(2);
      // The stack repeats the message: raw, it cleared the terminal the one line had kept.
      expect(run.stderr).toMatch(/^\s+at /m);
      expect(run.stderr).not.toContain('\x1b');
      expect(run.stderr).toContain(
        'UsageError: e1/a\\x1b[2Jb\\nc.jpg and e2/a\\x1b[2Jb\\nc.jpg would both be written as a\\x1b[2Jb\\nc.jpg;',
      );
    }
  });

  it('says a quoted glob whose matches are all under --out found them there, not that none match', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'site'));
    copyFileSync(fixturePath('edge/formats/1x1.jpg'), join(dir, 'site', 'a.jpg'));
    copyFileSync(fixturePath('edge/formats/1x1.jpg'), join(dir, 'site', 'b.jpg'));
    const run = await runCli(['process', 'site/*.jpg', '--out', 'site'], { cwd: dir });
    expect(run.code).toBe(2);
    noStack(run.stderr);
    expect(lines(run.stderr)[0]).toBe(
      "imgpipe process: all 2 match(es) of site/*.jpg are under --out site, which a glob's matches are never taken from (they would be a run's outputs): give another --out, or name the files",
    );
  });

  it('shows the stack of an unexpected error only with --verbose or DEBUG', async () => {
    const dir = tempDir();
    const quiet = await runCli(['process', 'nonexist.jpg', '--out', 'out'], { cwd: dir });
    noStack(quiet.stderr);
    const verbose = await runCli(['process', 'nonexist.jpg', '--out', 'out', '--verbose'], { cwd: dir });
    expect(verbose.stderr).toMatch(/^\s+at /m);
    const debug = await runCli(['process', 'nonexist.jpg', '--out', 'out'], {
      cwd: dir,
      env: { DEBUG: 'imgpipe' },
    });
    expect(debug.stderr).toMatch(/^\s+at /m);
  });

  it('checks the output folder before any work: a file in its path', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'file.txt'), 'not a folder');
    copyFileSync(fixturePath('photos/portrait-friends-dogs.jpg'), join(dir, 'a.jpg'));
    const run = await runCli(['process', 'a.jpg', '--out', 'file.txt/out'], { cwd: dir });
    expect(run.code).toBe(2);
    noStack(run.stderr);
    expect(lines(run.stderr)[0]).toBe(
      'imgpipe process: cannot write to --out file.txt/out: file.txt is a file, not a folder',
    );
  });

  it('checks the output folder before any work: a place nothing can be written', async () => {
    const dir = tempDir();
    copyFileSync(fixturePath('photos/portrait-friends-dogs.jpg'), join(dir, 'a.jpg'));
    const run = await runCli(['process', 'a.jpg', '--out', '/proc/imgpipe-out'], {
      cwd: dir,
      timeoutMs: 20_000,
    });
    expect(run.code).toBe(2);
    noStack(run.stderr);
    expect(lines(run.stderr)[0]).toMatch(/^imgpipe process: cannot write to --out \/proc\/imgpipe-out: /);
  });

  it('refuses two inputs that would be written to the same keys, naming both', async () => {
    const dir = tempDir();
    for (const folder of ['a/photos', 'b/photos']) {
      mkdirSync(join(dir, folder), { recursive: true });
      copyFileSync(fixturePath('edge/formats/1x1.jpg'), join(dir, folder, 'cat.jpg'));
    }
    const run = await runCli(['process', 'a/photos', 'b/photos', '--out', 'out'], { cwd: dir });
    expect(run.code).toBe(2);
    expect(lines(run.stderr)[0]).toBe(
      'imgpipe process: a/photos/cat.jpg and b/photos/cat.jpg would both be written as cat.jpg; process them into different --out folders',
    );
    expect(readdirSync(dir).sort()).toEqual(['a', 'b']);
  });

  it('validates IMGPIPE_WORKERS as the function does', async () => {
    for (const value of ['-1', 'abc']) {
      const run = await runCli(['process', 'x.jpg', '--out', 'out'], {
        cwd: tempDir(),
        env: { IMGPIPE_WORKERS: value },
      });
      expect(run.code).toBe(2);
      expect(lines(run.stderr)[0]).toBe(
        `imgpipe: Expected integer between 0 and 64 for IMGPIPE_WORKERS but received "${value}" of type string`,
      );
    }
  });

  it('refuses to sign a key with a .. segment, which no URL can name', async () => {
    const run = await runCli(['sign', 'photos/../cat.jpg', '--base', 'https://cdn.example.com']);
    expect([run.code, run.stdout]).toEqual([2, '']);
    expect(lines(run.stderr)[0]).toBe(
      'imgpipe sign: The source key "photos/../cat.jpg" has a ".." segment: browsers and CloudFront resolve such segments (also %2e%2e), so no URL can name it',
    );
    noStack(run.stderr);
  });

  it('refuses to sign an s3:// URI, as imgpipe status takes, naming the key to give', async () => {
    const run = await runCli([
      'sign',
      's3://imgpipe-prod-source/photos/cat.jpg',
      '--base',
      'https://cdn.example.com',
    ]);
    expect([run.code, run.stdout]).toEqual([2, '']);
    expect(lines(run.stderr)[0]).toBe(
      'imgpipe sign: Expected a source key such as photos/cat.jpg, not an s3:// URI, but received "s3://imgpipe-prod-source/photos/cat.jpg": /t/<key> reads <key> in the deployment\'s source bucket (give "photos/cat.jpg")',
    );
    noStack(run.stderr);
  });

  it('refuses a bad flag of dev token as a usage error, before looking for the issuer in --dir', async () => {
    // No imgpipe dev has run in this --dir: the flag was not checked, and the exit status was 1.
    const dir = join(tempDir(), 'never-started');
    for (const [flags, message] of [
      [['--sub', 'a b'], 'Expected 1 to 128 characters without spaces for --sub but received "a b"'],
      [
        ['--expires', '0'],
        'Expected integer between 1 and 604800 for --expires but received "0" of type string',
      ],
    ] as const) {
      const run = await runCli(['dev', 'token', '--dir', dir, ...flags]);
      expect([run.code, lines(run.stderr)[0]], flags.join(' ')).toEqual([2, `imgpipe dev token: ${message}`]);
    }
  });

  it('says that dev token needs imgpipe dev started first, and how, when the data folder has no issuer', async () => {
    // It printed "imgpipe: Error: <file> does not exist: ..." and asked for --verbose.
    const cwd = tempDir();
    const inFolder = await runCli(['dev', 'token'], { cwd });
    expect([inFolder.code, inFolder.stdout, lines(inFolder.stderr)]).toEqual([
      1,
      '',
      [
        "imgpipe dev token: no local issuer to sign with: .imgpipe-dev/oidc.json does not exist, so imgpipe dev has not run in this folder. Start it first (npx imgpipe dev, from this folder): it creates the issuer's key there, and its API accepts the tokens signed with it",
      ],
    ]);
    const dir = join(cwd, 'never started');
    const named = await runCli(['dev', 'token', '--dir', dir], { cwd });
    expect([named.code, named.stdout, lines(named.stderr)]).toEqual([
      1,
      '',
      [
        `imgpipe dev token: no local issuer to sign with: ${dir}/oidc.json does not exist, so imgpipe dev has not run with this --dir. Start it first (npx imgpipe dev --dir '${dir}', from this folder): it creates the issuer's key there, and its API accepts the tokens signed with it`,
      ],
    ]);
  });

  it('names an issuer file that imgpipe dev did not write, which dev replaces when it starts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'imgpipe-oidc-'));
    try {
      for (const [content, why] of [
        ['{"issuer": "http://127.0.0.1:1/oidc", "kid"', /not JSON: /],
        ['{"issuer": "x"}', /it lacks the issuer, kid or privateKey/],
        [
          '{"issuer": "x", "kid": "k", "privateKey": {"kty": "RSA", "n": "AQAB"}}',
          /its privateKey is not a private key: /,
        ],
      ] as const) {
        writeFileSync(join(dir, 'oidc.json'), content);
        const run = await runCli(['dev', 'token', '--dir', dir]);
        expect([run.code, run.stdout], content).toEqual([1, '']);
        const line = lines(run.stderr);
        expect(line, content).toHaveLength(1);
        expect(line[0]).toMatch(
          new RegExp(
            `^imgpipe dev token: ${join(dir, 'oidc.json').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} is not an issuer file imgpipe dev writes \\(`,
          ),
        );
        expect(line[0]).toMatch(why);
        // imgpipe dev (LocalIssuer.open) replaces it with a key of its own, which signs.
        const issuer = await LocalIssuer.open(dir, 'http://127.0.0.1:1/oidc');
        expect(issuer.token({ expiresInSeconds: 60 }).split('.')).toHaveLength(3);
        expect((await LocalIssuer.find(dir))?.kid).toBe(issuer.kid);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses to sign options no deployment takes, naming the option and the value, and signs the widest ones', async () => {
    const cases: [string[], string][] = [
      [['--fit', 'weird'], '--fit: Expected one of inside, cover, contain for fit but received "weird"'],
      [['--fmt', 'gif'], '--fmt: Expected one of jpeg, webp, avif, png, auto for fmt but received "gif"'],
      [['--q', '1000'], '--q: Expected an integer from 1 to 100 for q but received "1000"'],
      [['--dpr', '4'], '--dpr: Expected one of 1, 1.5, 2, 2.5, 3 for dpr but received "4"'],
      [['--wm', '5'], '--wm: Expected 0 or 1 for wm but received "5"'],
      [['--w', '0'], '--w: Expected a whole number of pixels (1, 2, ...) for w but received "0"'],
      // A negative value was "Expected a number for --h", which it is.
      [['--h', '-1'], '--h: Expected a whole number of pixels (1, 2, ...) for h but received "-1"'],
      // A whole number over any deployment's largest side was "Expected a whole number of pixels".
      [
        ['--w', '100000'],
        '--w: Expected at most 16384 at dpr 1 (16384 device pixels) for w but received "100000"',
      ],
      [['--q', '-5'], '--q: Expected an integer from 1 to 100 for q but received "-5"'],
      [
        ['--h', '9000', '--dpr', '2'],
        '--h: Expected at most 8192 at dpr 2 (16384 device pixels) for h but received "9000"',
      ],
    ];
    for (const [flags, message] of cases) {
      const run = await runCli(['sign', 'a.jpg', '--base', 'https://cdn.example.com', ...flags]);
      expect([run.code, run.stdout], flags.join(' ')).toEqual([2, '']);
      expect(lines(run.stderr)[0]).toBe(
        `imgpipe sign: ${message} of type string: the function refuses it (400) whatever its configuration`,
      );
    }
    // What some deployment takes is signed: a size off the default step, the largest at dpr 2.
    const widest = await runCli([
      'sign',
      'a.jpg',
      '--base',
      'https://cdn.example.com',
      ...[
        '--w',
        '8192',
        '--h',
        '333',
        '--dpr',
        '2',
        '--q',
        '100',
        '--fit',
        'cover',
        '--fmt',
        'png',
        '--wm',
        '0',
      ],
    ]);
    expect(widest.code, widest.stderr).toBe(0);
    expect(widest.stdout).toMatch(
      /^https:\/\/cdn\.example\.com\/t\/a\.jpg\?dpr=2&fit=cover&fmt=png&h=333&q=100&w=8192&wm=0&sig=/,
    );
  }, 180_000);

  it("refuses to sign an empty key, one over 1,024 bytes or one whose results' keys would be, which the function refuses", async () => {
    for (const key of ['', 'k'.repeat(1025)]) {
      const run = await runCli(['sign', key, '--base', 'https://cdn.example.com']);
      expect([run.code, run.stdout]).toEqual([2, '']);
      expect(lines(run.stderr)[0]).toBe(
        `imgpipe sign: Expected a source key of 1 to 1024 bytes after /t/, not ${key.length} bytes`,
      );
    }
    // 1,024 bytes is a key S3 stores, but not its results' keys, which are longer: the function
    // refuses it (400), so sign does (test/integration/transform.test.ts finds the longest it takes).
    const longest = await runCli(['sign', 'k'.repeat(1024), '--base', 'https://cdn.example.com']);
    expect([longest.code, longest.stdout]).toEqual([2, '']);
    expect(lines(longest.stderr)[0]).toMatch(
      /^imgpipe sign: The source key is 1024 bytes: its results' keys would be \d+ bytes, more than the 1024 S3 stores \(a source key of at most 962 bytes has results here\)/,
    );
    const fits = await runCli(['sign', 'k'.repeat(962), '--base', 'https://cdn.example.com']);
    expect(fits.code, fits.stderr).toBe(0);
  });

  it('refuses to sign with a key the function never holds, naming the problem and not the key', async () => {
    const key = 'n'.repeat(40);
    const cases: [string, string][] = [
      // The parameter's value whole, both lines of a rotation (without | head -1).
      [`${key}\n${'o'.repeat(40)}\n`, "holds 2 lines (give one key, the parameter's first line)"],
      [`${key.slice(0, 20)} ${key.slice(20)}`, 'has whitespace within the key'],
      ['short-key', 'is 9 characters long'],
    ];
    for (const [secret, problem] of cases) {
      const run = await runCli(['sign', 'a.jpg', '--base', 'https://cdn.example.com'], {
        env: { IMGPIPE_TRANSFORM_SIGNING_KEY: secret },
      });
      expect([run.code, run.stdout], problem).toEqual([2, '']);
      expect(lines(run.stderr)[0]).toBe(
        `imgpipe sign: IMGPIPE_TRANSFORM_SIGNING_KEY ${problem}: the function takes a key of at least 32 characters without whitespace, and would refuse every URL signed with this`,
      );
      expect(run.stderr).not.toContain(secret.trim().slice(0, 20));
    }
    const placeholder = await runCli(['sign', 'a.jpg', '--base', 'https://cdn.example.com'], {
      env: { IMGPIPE_TRANSFORM_SIGNING_KEY: SIGNING_KEYS_PLACEHOLDER },
    });
    expect([placeholder.code, lines(placeholder.stderr)[0]]).toEqual([
      2,
      "imgpipe sign: IMGPIPE_TRANSFORM_SIGNING_KEY holds terraform/modules/transform's placeholder: the signing keys were never set (the function refuses it)",
    ]);
    const good = await runCli(['sign', 'a.jpg', '--base', 'https://cdn.example.com', '--w', '40'], {
      env: { IMGPIPE_TRANSFORM_SIGNING_KEY: `${key}\n` },
    });
    expect([good.code, good.stderr]).toEqual([0, '']);
    expect(new URL(good.stdout.trim()).searchParams.get('sig')).toBe(signature(key, 'a.jpg', { w: '40' }));
  });

  it('refuses to start imgpipe dev with a signing key the function never holds, before anything starts', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'imgpipe-dev-key-')), 'never-made');
    const run = await runCli(['dev', '--dir', dir, '--no-samples', '--port', '0'], {
      env: { IMGPIPE_TRANSFORM_SIGNING_KEY: `${'n'.repeat(40)}\n${'o'.repeat(40)}` },
    });
    expect([run.code, run.stdout]).toEqual([2, '']);
    expect(lines(run.stderr)[0]).toBe(
      "imgpipe dev: IMGPIPE_TRANSFORM_SIGNING_KEY holds 2 lines (give one key, the parameter's first line): the function takes a key of at least 32 characters without whitespace, and would refuse every URL signed with this",
    );
    expect(run.stderr).not.toContain('n'.repeat(20));
    expect(readdirSync(join(dir, '..'))).toEqual([]);
  });

  it('refuses a --base with a path: transformations are under /t/ at its root', async () => {
    const run = await runCli(['sign', 'a.jpg', '--base', 'https://cdn.example.com/img']);
    expect([run.code, run.stdout]).toEqual([2, '']);
    expect(lines(run.stderr)[0]).toBe(
      'imgpipe sign: Expected a URL such as https://d111111abcdef8.cloudfront.net (no path: transformations are under /t/ at its root) for --base but received "https://cdn.example.com/img"',
    );
    const root = await runCli(['sign', 'a.jpg', '--base', 'https://cdn.example.com/']);
    expect(root.stdout).toMatch(/^https:\/\/cdn\.example\.com\/t\/a\.jpg\?sig=/);
  });

  it('says that sign needs --base and where to find it, when it is not given', async () => {
    // It was "Expected a URL such as ... for --base but received null", as if null had been given.
    const run = await runCli(['sign', 'a.jpg']);
    expect([run.code, run.stdout, lines(run.stderr)[0]]).toEqual([
      2,
      '',
      "imgpipe sign: --base <url> is required: the URL the transformations are served at, e.g. https://d111111abcdef8.cloudfront.net (terraform output transform_url), or imgpipe dev's http://127.0.0.1:4570",
    ]);
  });

  it('signs for whole seconds, at least one, within the exp the function reads', async () => {
    for (const expires of ['0', '1.5', '99999999999999']) {
      const run = await runCli(['sign', 'a.jpg', '--base', 'https://cdn.example.com', '--expires', expires]);
      expect([run.code, run.stdout]).toEqual([2, '']);
      expect(lines(run.stderr)[0]).toBe(
        `imgpipe sign: Expected integer between 1 and 3153600000 for --expires but received "${expires}" of type string`,
      );
    }
    const day = await runCli(['sign', 'a.jpg', '--base', 'https://cdn.example.com', '--expires', '86400']);
    expect(day.code).toBe(0);
    const exp = Number(new URL(day.stdout.trim()).searchParams.get('exp'));
    expect(exp - Date.now() / 1000).toBeGreaterThan(86_000);
  });

  it('validates --concurrency', async () => {
    const run = await runCli(['process', 'x.jpg', '--out', 'out', '-j', '0'], { cwd: tempDir() });
    expect(run.code).toBe(2);
    expect(lines(run.stderr)[0]).toBe(
      'imgpipe process: Expected integer between 1 and 64 for --concurrency but received "0" of type string',
    );
  });
});

describe('configuration through the command line', () => {
  it('applies the environment over a --config document, and checks it', async () => {
    const dir = tempDir();
    copyFileSync(fixturePath('photos/portrait-friends-dogs.jpg'), join(dir, 'a.jpg'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ formats: { webp: {} } }));
    const limited = await runCli(['process', 'a.jpg', '--out', 'out', '--config', 'config.json'], {
      cwd: dir,
      env: { IMGPIPE_MAX_PIXELS: '1' },
    });
    expect(limited.code).toBe(0);
    expect(limited.stdout).toMatch(/a\.jpg\s+quarantined \(too-many-pixels\)/);
    const bad = await runCli(['process', 'a.jpg', '--out', 'out', '--config', 'config.json'], {
      cwd: dir,
      env: { IMGPIPE_MAX_PIXELS: 'abc' },
    });
    expect(bad.code).toBe(2);
    expect(lines(bad.stderr)[0]).toBe(
      'imgpipe: Expected integer between 1 and 1000000000 for IMGPIPE_MAX_PIXELS but received "abc" of type string',
    );
  });

  it('names the file and the setting apart, and suggests a misspelt key', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ formts: { webp: {} } }));
    const run = await runCli(['process', 'x.jpg', '--out', 'out', '--config', 'config.json'], { cwd: dir });
    expect(run.code).toBe(2);
    expect(lines(run.stderr)[0]).toMatch(
      /^imgpipe: config\.json: unknown setting formts \(did you mean formats\?\); the settings are /,
    );
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ background: 'white' }));
    const colour = await runCli(['process', 'x.jpg', '--out', 'out', '--config', 'config.json'], {
      cwd: dir,
    });
    expect(lines(colour.stderr)[0]).toBe(
      'imgpipe: config.json: Expected a colour like "#ffffff" or "#ffffff00" for background but received "white" of type string',
    );
  });

  it('names the setting and the value of a bad key template', async () => {
    const run = await runCli(['process', 'x.jpg', '--out', 'out'], {
      cwd: tempDir(),
      env: { IMGPIPE_KEY_TEMPLATE: '{variant}/{key}' },
    });
    expect(run.code).toBe(2);
    expect(lines(run.stderr)[0]).toBe(
      'imgpipe: Expected a usable key template for IMGPIPE_KEY_TEMPLATE but received "{variant}/{key}" of type string (variant large in webp and variant large in jpeg would both be written to large/sample/dir/photo.jpg)',
    );
  });
});

describe('imgpipe dev mistakes', () => {
  it('says a port is in use in one line', async () => {
    const server: Server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    try {
      const run = await runCli(['dev', '--once', '--port', String(port), '--dir', join(tempDir(), 'd')]);
      expect(run.code).toBe(2);
      noStack(run.stderr);
      expect(lines(run.stderr)).toEqual([
        `imgpipe dev: port ${port} on 127.0.0.1 is already in use: choose another with --port`,
        "See 'imgpipe dev --help'.",
      ]);
    } finally {
      server.close();
    }
  });

  it('refuses a --port whose next three ports, where it also listens, are past 65535', async () => {
    const run = await runCli(['dev', '--no-samples', '--port', '65534', '--dir', join(tempDir(), 'd')]);
    expect(run.code).toBe(2);
    noStack(run.stderr);
    expect(lines(run.stderr)).toEqual([
      'imgpipe dev: Expected a port number between 0 and 65532 (imgpipe dev also listens on the next three) for --port but received "65534"',
      "See 'imgpipe dev --help'.",
    ]);
  });

  it('says a --host is not an address of this machine', async () => {
    const run = await runCli([
      'dev',
      '--once',
      '--port',
      '0',
      '--host',
      '192.0.2.1',
      '--dir',
      join(tempDir(), 'd'),
    ]);
    expect(run.code).toBe(2);
    noStack(run.stderr);
    expect(lines(run.stderr)[0]).toBe(
      'imgpipe dev: cannot listen on --host 192.0.2.1: it is not an address of this machine',
    );
  });

  it('says a --dir under a file cannot be used', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'file.txt'), 'x');
    const run = await runCli(['dev', '--once', '--port', '0', '--dir', join(dir, 'file.txt', 'data')]);
    expect(run.code).toBe(2);
    noStack(run.stderr);
    expect(lines(run.stderr)[0]).toBe(
      `imgpipe dev: cannot use --dir ${join(dir, 'file.txt', 'data')}: ${join(dir, 'file.txt')} is a file, not a folder`,
    );
  });
});

describe('npm run bench mistakes', () => {
  const bench = (args: string[]) =>
    promisify(execFile)(process.execPath, ['bench/cli.ts', ...args], { cwd: REPO_ROOT }).then(
      (r) => ({ code: 0, stderr: r.stderr }),
      (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }),
    );

  it.each([
    [['--bogus'], 'npm run bench: unknown option --bogus', 'npm run bench -- --help'],
    [['--quik'], 'npm run bench: unknown option --quik (did you mean --quick?)', 'npm run bench -- --help'],
    [['--runs'], 'npm run bench: --runs needs a value: --runs <n>', 'npm run bench -- --help'],
    [
      ['sweep', '--memroy', '512'],
      'npm run bench -- sweep: unknown option --memroy (did you mean --memory?)',
      'npm run bench -- sweep --help',
    ],
    [
      ['memory', '--phase', 'decode'],
      'npm run bench -- memory: unknown option --phase (did you mean --phases?)',
      'npm run bench -- memory --help',
    ],
    [
      ['memory', '--phases', 'decod'],
      'npm run bench -- memory: --phases takes a comma-separated list of baseline, decode, encode, resize and check; received "decod", whose item "decod" is none of them',
      'npm run bench -- memory --help',
    ],
  ])('%j: one line naming the flag, exit 2', async (args, message, help) => {
    const run = await bench(args);
    expect(run.code).toBe(2);
    noStack(run.stderr);
    expect(lines(run.stderr)).toEqual([message, `See '${help}'.`]);
  });

  it.each([
    [[], 'Usage: npm run bench -- [options]'],
    [['sweep'], 'npm run bench -- sweep [options]'],
    [['memory'], 'Usage: npm run bench -- memory [options]'],
  ])('%j --help and -h print the help, exit 0', async (command, usage) => {
    for (const flag of ['--help', '-h']) {
      const run = await promisify(execFile)(process.execPath, ['bench/cli.ts', ...command, flag], {
        cwd: REPO_ROOT,
      });
      expect(run.stderr).toBe('');
      expect(run.stdout.slice(0, usage.length)).toBe(usage);
    }
  });
});
