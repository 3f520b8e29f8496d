import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parsePipelineConfig } from '../../../src/config/document.ts';
import { BucketLayout, S3_MAX_KEY_BYTES, TransformLayout } from '../../../src/core/layout.ts';
import { removeObject } from '../../../src/pipeline/remove-object.ts';
import { FsStorage } from '../../../src/storage/fs.ts';

describe('removeObject for a key too long for its outputs', () => {
  it('deletes the on-demand results it may still have, and reads no manifest', async () => {
    const root = mkdtempSync(join(tmpdir(), 'imgpipe-remove-'));
    // A long variant name: outputs pass 1,024 bytes where on-demand results (under t/) do not.
    const variant = 'v'.repeat(60);
    const config = parsePipelineConfig({ variants: [{ name: variant, width: 64 }], formats: { webp: {} } });
    const layout = new BucketLayout(config, 'quarantine/');
    const transforms = new TransformLayout('t/');
    const key = `${`${'d'.repeat(200)}/`.repeat(4)}${'x'.repeat(156)}`;
    const result = transforms.key(key, { width: 640, fit: 'inside', format: 'webp', quality: 75 }, 'hash');
    expect(Buffer.byteLength(result)).toBeLessThanOrEqual(S3_MAX_KEY_BYTES);
    expect(Math.max(...layout.outputKeys(key).map((k) => Buffer.byteLength(k)))).toBeGreaterThan(
      S3_MAX_KEY_BYTES,
    );

    const output = new FsStorage(join(root, 'out'));
    await output.put(result, new Uint8Array([1, 2, 3]), { contentType: 'image/webp' });
    const removal = await removeObject(
      { bucket: 'in', key },
      { layout, source: () => new FsStorage(join(root, 'in')), output, deleteOutputs: true, transforms },
    );
    expect(removal).toEqual({ status: 'deleted', removedOutputs: [result] });
    expect(await output.head(result)).toBeUndefined();
  });
});
