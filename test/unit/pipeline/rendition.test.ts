import { describe, expect, it } from 'vitest';
import { loadPipelineConfig } from '../../../src/config/index.ts';
import { MODERATION_RENDITION, renditionConfig } from '../../../src/pipeline/rendition.ts';

describe('renditionConfig', () => {
  it('keeps the limits of the configuration it is made from, the memory budget included', () => {
    // The memory budget is the process's, not a document setting: passing it back through the
    // document parser as `limits.memory` refused every moderation rendition.
    const config = loadPipelineConfig({ IMGPIPE_MEMORY_MB: '1024', IMGPIPE_MAX_PIXELS: '20000000' });
    const rendition = renditionConfig(config.limits);
    expect(rendition.limits).toEqual(config.limits);
    expect(rendition.limits.memory).toEqual({ mb: 1024, source: 'IMGPIPE_MEMORY_MB' });
    expect(rendition.variants).toHaveLength(1);
    expect(rendition.variants[0]).toMatchObject({ width: MODERATION_RENDITION.longSide, upscale: true });
  });
});
