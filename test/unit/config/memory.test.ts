import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadPipelineConfig } from '../../../src/config/index.ts';
import { readCgroupMemoryLimit, resolveMemory } from '../../../src/config/memory.ts';

const MiB = 1024 * 1024;
const root = mkdtempSync(join(tmpdir(), 'imgpipe-memory-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A fake /sys/fs/cgroup and /proc/self/cgroup: files under `root`, and the membership text. */
function cgroup(name: string, files: Record<string, string>, membership: string): [string, string] {
  const base = join(root, name);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(base, path, '..'), { recursive: true });
    writeFileSync(join(base, path), text);
  }
  writeFileSync(join(base, 'self'), membership);
  return [base, join(base, 'self')];
}

describe('readCgroupMemoryLimit', () => {
  it('reads cgroup v2 memory.max of its own cgroup, the least along its path', () => {
    const [base, self] = cgroup(
      'v2',
      {
        'memory.max': 'max',
        'app/memory.max': String(3072 * MiB),
        'app/task/memory.max': String(4096 * MiB),
      },
      '0::/app/task\n',
    );
    expect(readCgroupMemoryLimit(base, self)).toBe(3072 * MiB);
  });

  it('reads cgroup v1 memory.limit_in_bytes, and knows its "no limit" value', () => {
    const [base, self] = cgroup(
      'v1',
      {
        'memory/memory.limit_in_bytes': '9223372036854771712',
        'memory/job/memory.limit_in_bytes': String(1536 * MiB),
      },
      '4:memory:/job\n1:cpu,cpuacct:/\n0::/\n',
    );
    expect(readCgroupMemoryLimit(base, self)).toBe(1536 * MiB);
    const [unlimited, selfUnlimited] = cgroup(
      'v1-none',
      { 'memory/memory.limit_in_bytes': '9223372036854771712' },
      '4:memory:/\n',
    );
    expect(readCgroupMemoryLimit(unlimited, selfUnlimited)).toBeUndefined();
  });
});

describe('resolveMemory', () => {
  const [limited, self] = cgroup('limited', { 'memory.max': String(4096 * MiB) }, '0::/\n');
  const machine = 16384 * MiB;

  it('takes IMGPIPE_MEMORY_MB when set above 0', () => {
    expect(
      resolveMemory(
        { IMGPIPE_MEMORY_MB: '1024', AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '2048' },
        limited,
        self,
        machine,
      ),
    ).toEqual({ mb: 1024, source: 'IMGPIPE_MEMORY_MB' });
  });

  it("else takes the least of Lambda's memory size, the cgroup limit and the machine's memory", () => {
    expect(resolveMemory({ AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '2048' }, limited, self, machine)).toEqual({
      mb: 2048,
      source: 'AWS_LAMBDA_FUNCTION_MEMORY_SIZE',
    });
    expect(resolveMemory({ IMGPIPE_MEMORY_MB: '0' }, limited, self, machine)).toEqual({
      mb: 4096,
      source: 'the cgroup memory limit',
    });
    expect(resolveMemory({}, '/nonexistent', '/nonexistent', machine)).toEqual({
      mb: 16384,
      source: "the machine's memory",
    });
  });

  it('names the variable and the value when IMGPIPE_MEMORY_MB is not a number of MiB', () => {
    expect(() => resolveMemory({ IMGPIPE_MEMORY_MB: '2GB' })).toThrow(
      'Expected integer between 0 and 1048576 for IMGPIPE_MEMORY_MB but received "2GB" of type string',
    );
  });

  it("refuses IMGPIPE_MEMORY_MB above Lambda's memory or the cgroup limit, naming the limit", () => {
    // A budget above what the process may use passes images whose decode gets it killed.
    expect(() =>
      resolveMemory(
        { IMGPIPE_MEMORY_MB: '3008', AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '1024' },
        limited,
        self,
        machine,
      ),
    ).toThrow(
      'Expected integer between 0 and 1024 for IMGPIPE_MEMORY_MB but received "3008" of type string (AWS_LAMBDA_FUNCTION_MEMORY_SIZE is 1024 MiB, and the process is stopped above it)',
    );
    expect(() => resolveMemory({ IMGPIPE_MEMORY_MB: '5000' }, limited, self, machine)).toThrow(
      'Expected integer between 0 and 4096 for IMGPIPE_MEMORY_MB but received "5000" of type string (the cgroup memory limit is 4096 MiB, and the process is stopped above it)',
    );
    // At the limit it is taken; above the machine's memory alone (swap) it is too.
    expect(
      resolveMemory(
        { IMGPIPE_MEMORY_MB: '4096', AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '8192' },
        limited,
        self,
        machine,
      ),
    ).toEqual({ mb: 4096, source: 'IMGPIPE_MEMORY_MB' });
    expect(resolveMemory({ IMGPIPE_MEMORY_MB: '20000' }, '/nonexistent', '/nonexistent', machine)).toEqual({
      mb: 20000,
      source: 'IMGPIPE_MEMORY_MB',
    });
  });

  it('is set by the loaders, with a --config file too', () => {
    expect(loadPipelineConfig({ IMGPIPE_MEMORY_MB: '700' }).limits.memory).toEqual({
      mb: 700,
      source: 'IMGPIPE_MEMORY_MB',
    });
    const file = join(root, 'config.json');
    writeFileSync(file, JSON.stringify({ variants: [{ name: 's', width: 100 }] }));
    expect(
      loadPipelineConfig({ IMGPIPE_MEMORY_MB: '700' }, { file: { path: file, setting: '--config' } }).limits
        .memory,
    ).toEqual({ mb: 700, source: 'IMGPIPE_MEMORY_MB' });
  });
});
