import { describe, expect, it } from 'vitest';
import { loadModerationConfig } from '../../../src/config/workflow.ts';

describe('loadModerationConfig', () => {
  it('takes up to 16 tiles an image, what the Moderate task’s 50 s holds, and refuses more, naming the value', () => {
    expect(loadModerationConfig({}).maxTiles).toBe(8);
    expect(loadModerationConfig({ IMGPIPE_MODERATION_MAX_TILES: '16' }).maxTiles).toBe(16);
    for (const value of ['17', '64', '0'])
      expect(() => loadModerationConfig({ IMGPIPE_MODERATION_MAX_TILES: value })).toThrow(
        new RegExp(`IMGPIPE_MODERATION_MAX_TILES.*${value}`),
      );
  });
});
