import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { namedPipeHold } from '../support/cli.ts';
import { fixturePath } from '../support/fixtures.ts';
import { runInPty } from '../support/pty.ts';

/** What a person at a terminal sees: run under a real pseudo-terminal (util-linux `script`). */
const tempDir = () => mkdtempSync(join(tmpdir(), 'imgpipe-tty-'));
const ESC = '\x1b';
const HIDE_CURSOR = '\x1b[?25l';
const SHOW_CURSOR = '\x1b[?25h';
const WRAP_OFF = '\x1b[?7l';
const WRAP_ON = '\x1b[?7h';
// biome-ignore lint/suspicious/noControlCharactersInRegex: the terminal's escape sequences are the point
const plain = (text: string) => text.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replaceAll('\r', '');

function fivePhotos(): string {
  const dir = tempDir();
  mkdirSync(join(dir, 'in'));
  const photos = [
    'colour-fig-red-bowl.jpg',
    'landscape-picos-de-europa.jpg',
    'portrait-friends-dogs.jpg',
    'texture-life-forest-stream.jpg',
  ];
  for (const [i, name] of photos.entries())
    copyFileSync(fixturePath(`photos/${name}`), join(dir, 'in', `${i}-${name}`));
  copyFileSync(
    fixturePath('edge/orientation/photo-exif-orientation-6.jpg'),
    join(dir, 'in', '4-rotated.jpg'),
  );
  return dir;
}

describe('imgpipe process at a terminal', () => {
  it('restores the cursor and line wrap on Ctrl-C, says what was done and exits 130', async () => {
    const dir = fivePhotos();
    // The last input's manifest is a named pipe: the run is held there, still on at the Ctrl-C
    // (all five could be done before it on a busy machine), and let go once the run has said it
    // was interrupted (released before, it could finish the input).
    mkdirSync(join(dir, 'out', 'manifests'), { recursive: true });
    const held = namedPipeHold(join(dir, 'out', 'manifests', '4-rotated.jpg.json'));
    let typed = false;
    let interrupted = false;
    let finished = false;
    const releasing = (async () => {
      while (!finished)
        if (!interrupted || !held.release()) await new Promise((resolveWait) => setTimeout(resolveWait, 50));
    })();
    const run = await runInPty(['process', 'in', '--out', 'out', '-j', '1'], {
      cwd: dir,
      onOutput: (output, type) => {
        if (!typed && /\b1\/5\b/.test(plain(output))) {
          typed = true;
          type('\x03');
        }
        if (typed && plain(output).includes('interrupted')) interrupted = true;
      },
    }).finally(() => {
      finished = true;
    });
    await releasing;
    expect(typed).toBe(true);
    expect(run.code).toBe(130);
    const out = run.stdout;
    expect(out).toContain(HIDE_CURSOR);
    expect(out.lastIndexOf(SHOW_CURSOR)).toBeGreaterThan(out.lastIndexOf(HIDE_CURSOR));
    expect(out.lastIndexOf(WRAP_ON)).toBeGreaterThan(out.lastIndexOf(WRAP_OFF));
    expect(plain(out)).toMatch(/interrupted: [1-4] of 5 done; run again to resume/);
  });

  it('fits the summary to the terminal and colours quarantined rows', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'in'));
    copyFileSync(fixturePath('edge/formats/1x1.jpg'), join(dir, 'in', 'tiny.jpg'));
    copyFileSync(fixturePath('edge/bombs/jpeg-65000x65000.jpg'), join(dir, 'in', 'bomb.jpg'));
    writeFileSync(join(dir, 'in', 'notes.jpg'), 'plain text that pretends to be a JPEG '.repeat(20));
    const run = await runInPty(['process', 'in', '--out', 'out'], { cwd: dir, columns: 80 });
    expect(run.code).toBe(0);
    const text = plain(run.stdout);
    const table = text.slice(text.indexOf('file '), text.indexOf('3 file(s)')).trimEnd();
    expect(table.split('\n')).toHaveLength(5);
    for (const line of table.split('\n')) expect(line.length, line).toBeLessThanOrEqual(80);
    expect(text).toMatch(/in\/bomb\.jpg +quarantined \(too-many-pixels\) +65000x65000/);
    const yellow = `${ESC}[33m`;
    const bombLine = run.stdout.split('\n').find((line) => line.includes('in/bomb.jpg'))!;
    expect(bombLine.startsWith(yellow), JSON.stringify(bombLine)).toBe(true);
    expect(text).toContain('3 file(s): 1 processed, 0 already done, 2 quarantined, 0 failed');

    const again = await runInPty(['process', 'in', '--out', 'out'], {
      cwd: dir,
      columns: 80,
      env: { NO_COLOR: '1' },
    });
    expect(plain(again.stdout)).toMatch(/in\/tiny\.jpg +already done/);
    for (const colour of [31, 32, 33]) expect(again.stdout).not.toContain(`${ESC}[${colour}m`);
  });
});
