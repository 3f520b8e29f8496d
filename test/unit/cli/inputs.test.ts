import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { collectInputs } from '../../../src/cli/inputs.ts';

describe('collectInputs', () => {
  const dir = mkdtempSync(join(tmpdir(), 'imgpipe-inputs-'));
  mkdirSync(join(dir, 'p', '2024'), { recursive: true });
  writeFileSync(join(dir, 'p', '2024', 'cat.jpg'), 'not read here');
  writeFileSync(join(dir, 'p', 'dog.jpg'), 'not read here');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const keys = async (paths: string[]) => {
    const { inputs, cleanup } = await collectInputs(paths, {
      out: 'o',
      command: 'imgpipe process',
      cwd: dir,
    });
    await cleanup();
    return inputs.map((input) => input.ref.key).sort();
  };

  it('keys a file named twice by the widest name given for it, whatever the order of the arguments', async () => {
    // Named alone it is cat.jpg; through the folder p, 2024/cat.jpg. The first argument decided,
    // so swapping the two processed it again under the other key.
    expect(await keys(['p/2024/cat.jpg'])).toEqual(['cat.jpg']);
    expect(await keys(['p/2024/cat.jpg', 'p'])).toEqual(['2024/cat.jpg', 'dog.jpg']);
    expect(await keys(['p', 'p/2024/cat.jpg'])).toEqual(['2024/cat.jpg', 'dog.jpg']);
    expect(await keys(['p/2024', 'p'])).toEqual(['2024/cat.jpg', 'dog.jpg']);
    expect(await keys(['p', 'p/2024'])).toEqual(['2024/cat.jpg', 'dog.jpg']);
  });
});
