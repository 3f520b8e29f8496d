/** The part of omggif 1.0.10 (no types of its own) that codecs/gif.ts uses. */
declare module 'omggif' {
  export interface GifFrameInfo {
    readonly x: number;
    readonly y: number;
    readonly width: number;
    readonly height: number;
    readonly palette_offset: number | null;
    readonly transparent_index: number | null;
    readonly interlaced: boolean;
  }
  export class GifReader {
    constructor(bytes: Uint8Array);
    readonly width: number;
    readonly height: number;
    numFrames(): number;
    frameInfo(frame: number): GifFrameInfo;
    decodeAndBlitFrameRGBA(frame: number, pixels: Uint8Array | Uint8ClampedArray): void;
  }
  /** Used by tests to write GIFs. */
  export class GifWriter {
    constructor(buffer: Uint8Array, width: number, height: number, options?: { palette?: number[] });
    addFrame(
      x: number,
      y: number,
      width: number,
      height: number,
      indexed: Uint8Array,
      options?: object,
    ): number;
    end(): number;
  }
}
