/**
 * The AV1 sequence header (AV1 specification, section 5.5), read from an AVIF item's coded data or
 * its av1C box: the largest frame the decoder may be asked to allocate, the bit depth and the
 * chroma subsampling. An AVIF file states its size twice, in the `ispe` property and in the AV1
 * bitstream; decoders allocate by the bitstream (libaom refuses any frame larger than the sequence
 * header's maximum, "Frame dimensions are larger than the maximum values"), so the header's
 * maximum is what bounds the memory a decode can take, whatever `ispe` says.
 */
export interface Av1SequenceHeader {
  readonly profile: number;
  /** max_frame_width_minus_1 + 1 and max_frame_height_minus_1 + 1. */
  readonly maxWidth: number;
  readonly maxHeight: number;
  readonly bitDepth: 8 | 10 | 12;
  readonly monochrome: boolean;
  /** 4:2:0, 4:2:2, 4:4:4, or 4:0:0 for monochrome. */
  readonly chroma: ChromaLayout;
  /**
   * color_config's colour description (ITU-T H.273 code points), when the header carries one
   * (color_description_present_flag): what libavif takes as the image's colour when the file has
   * no `colr` box.
   */
  readonly colour?: CodePoints;
  /**
   * color_range: full (1) or limited, "studio" (0) swing; full where the colour is sRGB with the
   * identity matrix (1/13/0), which codes no flag. libavif decodes a grid only if its tiles agree.
   */
  readonly fullRange: boolean;
}

/** ITU-T H.273 colour code points, as an `nclx` colr box, an AV1 color_config or a HEVC VUI carries them. */
export interface CodePoints {
  readonly primaries: number;
  readonly transfer: number;
  readonly matrix: number;
}

export type ChromaLayout = '4:2:0' | '4:2:2' | '4:4:4' | '4:0:0';

/** Thrown when the bits run out or break a rule; the caller names the item and the file. */
export class Av1SyntaxError extends Error {}

const OBU_SEQUENCE_HEADER = 1;

/**
 * Every sequence header in a run of OBUs in the low-overhead format (each OBU with its size field,
 * as AVIF item data and av1C configOBUs are written). An OBU without a size field runs to the end.
 */
export function findSequenceHeaders(data: Uint8Array, walked?: (bytes: number) => void): Av1SequenceHeader[] {
  const headers: Av1SequenceHeader[] = [];
  let offset = 0;
  while (offset < data.length) {
    const first = data[offset]!;
    if (first & 0x80) throw new Av1SyntaxError(`the OBU at byte ${offset} has its forbidden bit set`);
    const type = (first >> 3) & 0xf;
    const extension = (first >> 2) & 1;
    const hasSize = (first >> 1) & 1;
    let at = offset + 1 + extension;
    let size: number;
    if (hasSize) {
      ({ value: size, next: at } = readLeb128(data, at));
    } else {
      size = data.length - at;
    }
    if (at > data.length || at + size > data.length) {
      throw new Av1SyntaxError(
        `the OBU at byte ${offset} declares ${size} bytes, past the end of the data (${data.length} bytes)`,
      );
    }
    if (type === OBU_SEQUENCE_HEADER) headers.push(parseSequenceHeader(data.subarray(at, at + size)));
    walked?.(at + size - offset);
    offset = at + size;
  }
  return headers;
}

/** leb128(): up to 8 bytes, 7 bits each, little end first (AV1 section 4.10.5). */
function readLeb128(data: Uint8Array, start: number): { value: number; next: number } {
  let value = 0;
  for (let i = 0; i < 8; i++) {
    if (start + i >= data.length) throw new Av1SyntaxError(`an OBU size at byte ${start} is cut short`);
    const byte = data[start + i]!;
    value += (byte & 0x7f) * 2 ** (7 * i);
    if (!(byte & 0x80)) {
      if (value > 0xffffffff) throw new Av1SyntaxError(`an OBU size at byte ${start} exceeds 2^32 - 1`);
      return { value, next: start + i + 1 };
    }
  }
  throw new Av1SyntaxError(`an OBU size at byte ${start} is longer than 8 bytes`);
}

/** Bit reader for f(n) and uvlc() (AV1 sections 4.10.2 and 4.10.3); running out is an error. */
class Bits {
  #data: Uint8Array;
  #position = 0;

  constructor(data: Uint8Array) {
    this.#data = data;
  }

  f(n: number): number {
    let value = 0;
    for (let i = 0; i < n; i++) {
      const byte = this.#position >> 3;
      if (byte >= this.#data.length)
        throw new Av1SyntaxError(`the sequence header ends after ${this.#data.length} bytes, inside a field`);
      value = value * 2 + ((this.#data[byte]! >> (7 - (this.#position & 7))) & 1);
      this.#position++;
    }
    return value;
  }

  flag(): boolean {
    return this.f(1) === 1;
  }

  uvlc(): number {
    let leadingZeros = 0;
    while (!this.flag()) {
      if (++leadingZeros >= 32) throw new Av1SyntaxError('a uvlc() field in the sequence header is too long');
    }
    return this.f(leadingZeros) + 2 ** leadingZeros - 1;
  }
}

const CP_BT_709 = 1;
const TC_SRGB = 13;
const MC_IDENTITY = 0;

/** sequence_header_obu() up to color_config(), the fields after it being of no use here. */
export function parseSequenceHeader(payload: Uint8Array): Av1SequenceHeader {
  const b = new Bits(payload);
  const profile = b.f(3);
  if (profile > 2) throw new Av1SyntaxError(`the sequence header has the reserved profile ${profile}`);
  b.f(1); // still_picture
  const reducedStillPictureHeader = b.flag();
  if (reducedStillPictureHeader) {
    b.f(5); // seq_level_idx[0]
  } else {
    let decoderModelInfoPresent = false;
    let bufferDelayLength = 0;
    if (b.flag()) {
      // timing_info()
      b.f(32); // num_units_in_display_tick
      b.f(32); // time_scale
      if (b.flag()) b.uvlc(); // equal_picture_interval: num_ticks_per_picture_minus_1
      decoderModelInfoPresent = b.flag();
      if (decoderModelInfoPresent) {
        bufferDelayLength = b.f(5) + 1;
        b.f(32); // num_units_in_decoding_tick
        b.f(5); // buffer_removal_time_length_minus_1
        b.f(5); // frame_presentation_time_length_minus_1
      }
    }
    const initialDisplayDelayPresent = b.flag();
    const operatingPoints = b.f(5) + 1;
    for (let i = 0; i < operatingPoints; i++) {
      b.f(12); // operating_point_idc
      const level = b.f(5);
      if (level > 7) b.f(1); // seq_tier
      if (decoderModelInfoPresent && b.flag()) {
        b.f(bufferDelayLength); // decoder_buffer_delay
        b.f(bufferDelayLength); // encoder_buffer_delay
        b.f(1); // low_delay_mode_flag
      }
      if (initialDisplayDelayPresent && b.flag()) b.f(4); // initial_display_delay_minus_1
    }
  }
  const widthBits = b.f(4) + 1;
  const heightBits = b.f(4) + 1;
  const maxWidth = b.f(widthBits) + 1;
  const maxHeight = b.f(heightBits) + 1;
  const frameIdNumbersPresent = reducedStillPictureHeader ? false : b.flag();
  if (frameIdNumbersPresent) b.f(7); // delta_frame_id_length_minus_2, additional_frame_id_length_minus_1
  b.f(3); // use_128x128_superblock, enable_filter_intra, enable_intra_edge_filter
  if (!reducedStillPictureHeader) {
    b.f(4); // enable_interintra_compound, enable_masked_compound, enable_warped_motion, enable_dual_filter
    const enableOrderHint = b.flag();
    if (enableOrderHint) b.f(2); // enable_jnt_comp, enable_ref_frame_mvs
    const chooseScreenContentTools = b.flag();
    const forceScreenContentTools = chooseScreenContentTools ? 2 : b.f(1);
    if (forceScreenContentTools > 0) {
      const chooseIntegerMv = b.flag();
      if (!chooseIntegerMv) b.f(1); // seq_force_integer_mv
    }
    if (enableOrderHint) b.f(3); // order_hint_bits_minus_1
  }
  b.f(3); // enable_superres, enable_cdef, enable_restoration

  // color_config()
  const highBitdepth = b.flag();
  let bitDepth: 8 | 10 | 12 = highBitdepth ? 10 : 8;
  if (profile === 2 && highBitdepth) bitDepth = b.flag() ? 12 : 10;
  const monochrome = profile === 1 ? false : b.flag();
  let primaries = 2;
  let transfer = 2;
  let matrix = 2;
  const described = b.flag();
  if (described) {
    primaries = b.f(8);
    transfer = b.f(8);
    matrix = b.f(8);
  }
  const colour = described ? { colour: { primaries, transfer, matrix } } : {};
  let subsamplingX = 1;
  let subsamplingY = 1;
  if (monochrome) {
    const fullRange = b.flag();
    return { profile, maxWidth, maxHeight, bitDepth, monochrome, chroma: '4:0:0', ...colour, fullRange };
  }
  let fullRange = true;
  if (primaries === CP_BT_709 && transfer === TC_SRGB && matrix === MC_IDENTITY) {
    subsamplingX = 0;
    subsamplingY = 0;
  } else {
    fullRange = b.flag();
    if (profile === 0) {
      subsamplingX = 1;
      subsamplingY = 1;
    } else if (profile === 1) {
      subsamplingX = 0;
      subsamplingY = 0;
    } else if (bitDepth === 12) {
      subsamplingX = b.f(1);
      subsamplingY = subsamplingX ? b.f(1) : 0;
    } else {
      subsamplingX = 1;
      subsamplingY = 0;
    }
  }
  const chroma = subsamplingX ? (subsamplingY ? '4:2:0' : '4:2:2') : '4:4:4';
  return { profile, maxWidth, maxHeight, bitDepth, monochrome, chroma, ...colour, fullRange };
}
