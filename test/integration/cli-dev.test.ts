import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.ts';

/** `imgpipe dev --fresh` removes only what imgpipe dev made; `--once` ends with totals. */
const tempDir = () => mkdtempSync(join(tmpdir(), 'imgpipe-dev-'));
// Each run processes the six samples through the handler: minutes on a busy two-core machine.
const SLOW = { timeoutMs: 300_000 };

describe('imgpipe dev --fresh and --once', () => {
  it('refuses to empty a folder imgpipe dev did not create, and deletes nothing', async () => {
    const dir = join(tempDir(), 'mine');
    mkdirSync(join(dir, 'thesis'), { recursive: true });
    writeFileSync(join(dir, 'thesis', 'chapter1.md'), 'precious');
    const run = await runCli(['dev', '--once', '--fresh', '--port', '0', '--dir', dir]);
    expect(run.code).toBe(2);
    expect(run.stderr.split('\n')[0]).toBe(
      `imgpipe dev: --fresh would delete ${dir}, which imgpipe dev did not create (it has no .imgpipe-dev marker); remove it yourself or choose another --dir`,
    );
    expect(existsSync(join(dir, 'thesis', 'chapter1.md'))).toBe(true);
  });

  it('starts again from empty buckets in its own folder, leaving other files alone', async () => {
    const dir = join(tempDir(), 'data');
    const first = await runCli(['dev', '--once', '--port', '0', '--dir', dir], SLOW);
    expect(first.code).toBe(0);
    // --once: no instructions for a server that is stopping, and totals at the end.
    expect(first.stdout).not.toContain('--endpoint-url');
    expect(first.stdout).not.toContain('Try it with');
    expect(first.stdout.trimEnd().split('\n').at(-1)).toBe('6 events: 5 processed, 1 quarantined');
    expect(existsSync(join(dir, '.imgpipe-dev'))).toBe(true);
    writeFileSync(join(dir, 'notes.txt'), 'mine');
    const again = await runCli(['dev', '--once', '--port', '0', '--dir', dir], SLOW);
    expect(again.stdout).toMatch(/= samples\/portrait-friends-dogs\.jpg: duplicate/);
    // The file quarantined by the first run is a duplicate too, shown with its reason.
    expect(again.stdout).toMatch(/= samples\/\S+: duplicate, quarantined already \([a-z-]+\): /);
    expect(again.stdout.trimEnd().split('\n').at(-1)).toBe('6 events: 6 duplicate');
    const fresh = await runCli(['dev', '--once', '--fresh', '--port', '0', '--dir', dir], SLOW);
    expect(fresh.code).toBe(0);
    expect(fresh.stdout).toMatch(/\+ samples\/portrait-friends-dogs\.jpg: processed/);
    expect(readdirSync(dir).sort()).toEqual(
      [
        '.imgpipe-dev',
        'events.jsonl',
        'imgpipe-output',
        'imgpipe-quarantine',
        'imgpipe-workflow',
        'imgpipe-source',
        'notes.txt',
      ].sort(),
    );
  }, 900_000);
});

/** Whether this machine has IPv6's loopback address to listen on. */
const ipv6Loopback = await new Promise<boolean>((resolveListen) => {
  const probe = createServer();
  probe.once('error', () => resolveListen(false));
  probe.listen(0, '::1', () => probe.close(() => resolveListen(true)));
});
if (!ipv6Loopback) console.warn('cli-dev.test.ts: no IPv6 loopback (::1) here: --host ::1 is not tested');

describe('imgpipe dev --host', () => {
  it.skipIf(!ipv6Loopback)(
    'serves on an IPv6 address, its endpoints in brackets',
    async () => {
      const run = await runCli(
        ['dev', '--once', '--port', '0', '--host', '::1', '--dir', join(tempDir(), 'd')],
        SLOW,
      );
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(/^Local S3 at http:\/\/\[::1\]:\d+ /m);
      expect(run.stdout.trimEnd().split('\n').at(-1)).toBe('6 events: 5 processed, 1 quarantined');
    },
    300_000,
  );
});
