/**
 * JPEG decoding with libjpeg-turbo's TurboJPEG API: our build of libjpeg-turbo 2.1.5 with
 * WebAssembly SIMD IDCTs and colour conversion (scripts/codecs/jpeg-turbo, bit-identical to its C
 * routines), or, where SIMD is missing, @cwasm/jpeg-turbo's scalar build of 2.0.4, which gives the
 * same pixels for valid files (a damaged one gets an error or a warning where it gives one). Both
 * decode to the same pixels as jSquash's MozJPEG decoder (MozJPEG is a libjpeg-turbo fork with the
 * same decompressor), faster, and at 1/2, 1/4 or 1/8 of the size in the DCT domain: libjpeg's
 * scaled IDCT, which libvips (so sharp) calls shrink-on-load. A 16 MP photo headed for 1600 px then
 * never exists at full size in memory.
 *
 * We call the exported TurboJPEG functions (tjInitDecompress, tjDecompressHeader3, tjDecompress2,
 * tjDestroy, malloc, free) ourselves; @cwasm's own JavaScript decodes at full size only.
 *
 * Errors: both builds import setjmp (it returns 0) and longjmp, which we make throw, so a fatal
 * libjpeg error unwinds out of the instance, which is then replaced. TurboJPEG writes the text of
 * the last error or first warning into a static buffer (`errStr`, initially "No error") and does
 * not export it; we find that buffer once per instance by provoking a known error (below).
 */

const TJPF_RGBA = 7;
/** Four bytes a pixel, C, M, Y, K as stored (YCCK is converted to CMYK by libjpeg). */
const TJPF_CMYK = 11;
const NO_ERROR = 'No error';

export interface TurboJpegImage {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8ClampedArray;
  /** A libjpeg warning: the image decoded, but the data may be damaged. */
  readonly warning?: string;
}

/**
 * libjpeg warns about a JFIF APP0 segment of another major version than 1 ("unknown JFIF revision
 * number 2.01") and decodes the image as usual, as browsers do; but TurboJPEG fails its header call
 * on any warning, and keeps only the first warning's text, which would hide later damage to the
 * scan data. So the decoder's copy of a leading JFIF segment says 1.xx: only the warning changes.
 */
function acceptJfifRevision(jpeg: Uint8Array): void {
  const jfif = [0xff, 0xd8, 0xff, 0xe0, -1, -1, 0x4a, 0x46, 0x49, 0x46, 0x00];
  if (jpeg.length > 12 && jfif.every((byte, i) => byte < 0 || jpeg[i] === byte)) jpeg[11] = 1;
}

/**
 * libjpeg likewise warns about an Adobe APP14 transform other than 0 and 2 in a four-component
 * image ("Unknown Adobe color transform code 1") and reads it as YCCK, as 2 says (jdapimin.c), and
 * as the probe labels it; and about one other than 0 and 1 in a three-component image without a
 * JFIF marker, which it reads as YCbCr, as 1 says. TurboJPEG fails its header call on the warning.
 * So the decoder's copy of such a transform says 2 or 1: only the warning changes. Markers are read
 * up to the frame header, which gives the number of components.
 */
function acceptAdobeTransform(jpeg: Uint8Array): void {
  let transformAt: number | undefined;
  let jfif = false;
  for (let offset = 2; offset + 4 <= jpeg.length && jpeg[offset] === 0xff; ) {
    const marker = jpeg[offset + 1]!;
    if (marker === 0xff) {
      offset++; // fill bytes before a marker
      continue;
    }
    if (marker === 0xd8 || marker === 0xda || marker === 0xd9) return; // SOI again, scan data, end
    const length = (jpeg[offset + 2]! << 8) | jpeg[offset + 3]!;
    const body = offset + 4;
    const adobe = [0x41, 0x64, 0x6f, 0x62, 0x65]; // 'Adobe'
    if (marker === 0xee && length >= 14 && adobe.every((byte, i) => jpeg[body + i] === byte))
      transformAt = body + 11;
    // APP0 'JFIF\0' (libjpeg's test: its 14-byte header): a three-component image is then YCbCr.
    const jfifId = [0x4a, 0x46, 0x49, 0x46, 0x00];
    if (marker === 0xe0 && length >= 16 && jfifId.every((byte, i) => jpeg[body + i] === byte)) jfif = true;
    // SOF0-SOF15, but DHT (c4), JPG (c8) and DAC (cc): the number of components is its sixth byte.
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      if (transformAt === undefined || transformAt >= jpeg.length || jpeg[transformAt] === 0) return;
      const components = jpeg[body + 5];
      if (components === 4) jpeg[transformAt] = 2;
      else if (components === 3 && !jfif) jpeg[transformAt] = 1;
      return;
    }
    offset += 2 + length;
  }
}

/** A fatal libjpeg error, or TurboJPEG refusing the input, with libjpeg's own text. */
export class TurboJpegError extends Error {
  override readonly name = 'TurboJpegError';
}

interface Exports {
  readonly memory: WebAssembly.Memory;
  _initialize?(): void;
  /** Our build only: which SIMD routines libjpeg uses (bits 1, 2, 4: 8x8 IDCT, 4x4 IDCT, colour). */
  imgpipe_set_simd?(routines: number): void;
  malloc(size: number): number;
  free(ptr: number): void;
  tjInitDecompress(): number;
  tjDestroy(handle: number): number;
  tjDecompressHeader3(
    handle: number,
    src: number,
    size: number,
    width: number,
    height: number,
    subsampling: number,
    colorspace: number,
  ): number;
  tjDecompress2(
    handle: number,
    src: number,
    size: number,
    dst: number,
    width: number,
    pitch: number,
    height: number,
    format: number,
    flags: number,
  ): number;
  /** Our build only: tjDecompress2 for output rows [first, first + count), written from dst's row 0. */
  tjDecompressRows?(...args: [...Parameters<Exports['tjDecompress2']>, first: number, count: number]): number;
}

/** A band of output rows: `first` counted from the top of the (scaled) image. */
export interface JpegRows {
  readonly first: number;
  readonly count: number;
}

class Longjmp extends Error {}

const IMPORTS: WebAssembly.Imports = {
  env: {
    setjmp: () => 0,
    // Our build's only other import: emscripten tells the host that the heap grew (nothing to do).
    emscripten_notify_memory_growth: () => undefined,
    longjmp: () => {
      throw new Longjmp('libjpeg error exit');
    },
  },
  // The decoder never touches files, the environment or stdout; TurboJPEG keeps messages itself.
  wasi_snapshot_preview1: {
    environ_sizes_get: () => 0,
    environ_get: () => 0,
    fd_close: () => 0,
    fd_seek: () => 0,
    fd_write: () => 0,
    proc_exit: () => {
      throw new Error('libjpeg-turbo called exit()');
    },
  },
};

export class TurboJpeg {
  readonly #module: WebAssembly.Module;
  #exports!: Exports;
  #errStr = 0;
  #simd = 7;

  constructor(module: WebAssembly.Module) {
    this.#module = module;
    this.restart();
  }

  /** A fresh instance (after an error, or to give back a heap that grew). */
  restart(): void {
    this.#exports = new WebAssembly.Instance(this.#module, IMPORTS).exports as unknown as Exports;
    // An emscripten reactor (our build) runs its constructors once, before any other call.
    this.#exports._initialize?.();
    this.#exports.imgpipe_set_simd?.(this.#simd);
    this.#errStr = this.#findErrStr();
  }

  /**
   * Which of our build's SIMD routines libjpeg uses from the next decode (bits 1, 2 and 4: the 8x8
   * IDCT, the 4x4 IDCT, YCbCr to RGB; 0 for libjpeg-turbo's C throughout): the tests compare the
   * two. False for a build without them (@cwasm's).
   */
  useSimd(routines: number): boolean {
    if (!this.#exports.imgpipe_set_simd) return false;
    this.#simd = routines;
    this.#exports.imgpipe_set_simd(routines);
    return true;
  }

  /** True for a build that can decode a band of rows (ours; not @cwasm's). */
  get decodesRows(): boolean {
    return this.#exports.tjDecompressRows !== undefined;
  }

  heapBytes(): number {
    return this.#exports.memory.buffer.byteLength;
  }

  memory(): WebAssembly.Memory {
    return this.#exports.memory;
  }

  /**
   * Decodes to RGBA at 1/`shrink` of the stored size (1, 2, 4 or 8; each side rounded up, as
   * libjpeg does); with `cmyk`, a CMYK or YCCK JPEG to its CMYK values, four bytes a pixel, as
   * stored (Adobe-inverted or not). Throws TurboJpegError with libjpeg's text when the data
   * cannot be decoded. With `rows`, only those rows of the scaled image (`height` is then
   * `rows.count`): the rows above are entropy-decoded and skipped, decoding stops after the last
   * one, and the bytes are the whole decode's rows (test/unit/codecs/jpeg-turbo.test.ts). With
   * `into` (exactly the decoded bytes' length, e.g. a band's view of a whole image), the pixels are
   * written there rather than into a new array.
   */
  decode(
    bytes: Uint8Array,
    shrink: 1 | 2 | 4 | 8 = 1,
    cmyk = false,
    rows?: JpegRows,
    into?: Uint8ClampedArray,
  ): TurboJpegImage {
    const x = this.#exports;
    let failed = true;
    const input = x.malloc(bytes.length);
    const fields = x.malloc(16);
    const handle = x.tjInitDecompress();
    try {
      if (!input || !fields || !handle) throw new TurboJpegError('out of memory in the JPEG decoder');
      const heap = new Uint8Array(x.memory.buffer, input, bytes.length);
      heap.set(bytes);
      acceptJfifRevision(heap);
      acceptAdobeTransform(heap);
      this.#resetErrStr();
      if (
        x.tjDecompressHeader3(handle, input, bytes.length, fields, fields + 4, fields + 8, fields + 12) !== 0
      )
        throw new TurboJpegError(this.#message());
      const [fullWidth, fullHeight] = new Int32Array(x.memory.buffer, fields, 2) as unknown as [
        number,
        number,
      ];
      const width = Math.ceil(fullWidth / shrink);
      const scaledHeight = Math.ceil(fullHeight / shrink);
      if (
        rows &&
        (!x.tjDecompressRows || rows.first < 0 || rows.count < 1 || rows.first + rows.count > scaledHeight)
      )
        throw new RangeError(
          `Cannot decode rows ${rows.first}-${rows.first + rows.count - 1} of a ${width}x${scaledHeight} JPEG${x.tjDecompressRows ? '' : ' with this build'}`,
        );
      const height = rows ? rows.count : scaledHeight;
      if (into && into.length !== width * height * 4)
        throw new RangeError(`${into.length} bytes given for ${width}x${height} RGBA pixels`);
      const output = x.malloc(width * height * 4);
      if (!output)
        throw new TurboJpegError(`out of memory for ${width}x${height} pixels in the JPEG decoder`);
      const format = cmyk ? TJPF_CMYK : TJPF_RGBA;
      const status = rows
        ? x.tjDecompressRows!(
            handle,
            input,
            bytes.length,
            output,
            width,
            width * 4,
            scaledHeight,
            format,
            0,
            rows.first,
            rows.count,
          )
        : x.tjDecompress2(handle, input, bytes.length, output, width, width * 4, height, format, 0);
      // TurboJPEG returns -1 after a warning too (corrupt or missing data it skipped or filled in).
      const warning = status === 0 ? undefined : this.#message();
      const decoded = new Uint8ClampedArray(x.memory.buffer, output, width * height * 4);
      into?.set(decoded);
      const data = into ?? decoded.slice();
      x.free(output);
      failed = false;
      return warning === undefined ? { width, height, data } : { width, height, data, warning };
    } catch (error) {
      if (error instanceof Longjmp) throw new TurboJpegError(this.#message(), { cause: error });
      // Refused arguments (rows, `into`): thrown before libjpeg decoded anything, the instance is sound.
      if (error instanceof RangeError) failed = false;
      throw error;
    } finally {
      if (failed) {
        // The instance unwound mid-call: its allocator and libjpeg state cannot be trusted.
        this.restart();
      } else {
        x.tjDestroy(handle);
        x.free(fields);
        x.free(input);
      }
    }
  }

  #message(): string {
    const text = this.#readErrStr();
    return text && text !== NO_ERROR ? text : 'libjpeg-turbo gave no reason';
  }

  #readErrStr(): string {
    const memory = new Uint8Array(this.#exports.memory.buffer);
    let end = this.#errStr;
    while (end < memory.length && memory[end] !== 0 && end - this.#errStr < 200) end++;
    return Buffer.from(memory.subarray(this.#errStr, end)).toString('latin1');
  }

  #resetErrStr(): void {
    new Uint8Array(this.#exports.memory.buffer).set(Buffer.from(`${NO_ERROR}\0`, 'latin1'), this.#errStr);
  }

  /**
   * errStr is the one "No error" string in the data segment that an error overwrites: asking for
   * the header of zero bytes makes TurboJPEG write "tjDecompressHeader3(): Invalid argument" there.
   * Any other build of the package fails here, at start-up, rather than losing error messages.
   */
  #findErrStr(): number {
    const x = this.#exports;
    const before = Buffer.from(x.memory.buffer);
    const candidates: number[] = [];
    for (let at = before.indexOf(`${NO_ERROR}\0`); at >= 0; at = before.indexOf(`${NO_ERROR}\0`, at + 1))
      candidates.push(at);
    const handle = x.tjInitDecompress();
    const fields = x.malloc(16);
    x.tjDecompressHeader3(handle, 0, 0, fields, fields + 4, fields + 8, fields + 12);
    x.free(fields);
    x.tjDestroy(handle);
    const memory = Buffer.from(x.memory.buffer);
    const changed = candidates.filter(
      (at) => memory.toString('latin1', at, at + NO_ERROR.length) !== NO_ERROR,
    );
    if (changed.length !== 1)
      throw new Error(
        `Cannot find TurboJPEG's error buffer in the JPEG decoder (${changed.length} candidates changed): an unexpected build`,
      );
    return changed[0]!;
  }
}
