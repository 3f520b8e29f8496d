/**
 * The first frame of an animated WebP, as a still WebP a still-image decoder reads (WebP container
 * specification, "Animation"): the frame's image chunks (ALPH and VP8, or VP8L) from its ANMF
 * chunk, always behind a VP8X header of the frame's size. With the frame's
 * place on the canvas, where the caller puts it (the canvas is transparent before the first
 * frame, as browsers show it). Undefined for a still WebP. The header probe has already walked
 * and bounds-checked the chunks.
 */
export interface WebpFrame {
  readonly still: Uint8Array;
  readonly canvas: { readonly width: number; readonly height: number };
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

export function firstWebpFrame(bytes: Uint8Array): WebpFrame | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u24 = (at: number) => bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16);
  const end = Math.min(bytes.length, view.getUint32(4, true) + 8);
  let canvas: WebpFrame['canvas'] | undefined;
  for (let at = 12; at + 8 <= end; ) {
    const type = String.fromCharCode(...bytes.subarray(at, at + 4));
    const size = view.getUint32(at + 4, true);
    const body = at + 8;
    if (type === 'VP8X') canvas = { width: u24(body + 4) + 1, height: u24(body + 7) + 1 };
    if (type === 'ANMF') {
      if (!canvas) return undefined;
      const frame = {
        x: u24(body) * 2,
        y: u24(body + 3) * 2,
        width: u24(body + 6) + 1,
        height: u24(body + 9) + 1,
      };
      const chunks = bytes.subarray(body + 16, Math.min(body + size, end));
      const first = String.fromCharCode(...chunks.subarray(0, 4));
      // Always behind a VP8X header of the frame's size: libwebp then refuses a bitstream of
      // another size before it allocates (the probe refuses one already). The alpha flag when the
      // frame has an alpha chunk or is lossless (VP8L carries its own alpha).
      const flags = first === 'ALPH' || first === 'VP8L' ? 0x10 : 0;
      // VP8X: size 10, the flags, 3 reserved bytes, canvas width - 1 and height - 1 (24 bits).
      const w = frame.width - 1;
      const h = frame.height - 1;
      const parts: Uint8Array[] = [
        new Uint8Array([
          0x56,
          0x50,
          0x38,
          0x58,
          10,
          0,
          0,
          0,
          flags,
          0,
          0,
          0,
          w & 255,
          (w >> 8) & 255,
          w >> 16,
          h & 255,
          (h >> 8) & 255,
          h >> 16,
        ]),
      ];
      parts.push(chunks);
      const length = 4 + parts.reduce((sum, part) => sum + part.length, 0);
      const riff = new Uint8Array(12);
      riff.set([0x52, 0x49, 0x46, 0x46]); // "RIFF"
      new DataView(riff.buffer).setUint32(4, length, true);
      riff.set([0x57, 0x45, 0x42, 0x50], 8); // "WEBP"
      return { still: Buffer.concat([riff, ...parts]), canvas, ...frame };
    }
    at = body + size + (size & 1);
  }
  return undefined;
}

/**
 * A still WebP whose alpha Chrome does not show: a VP8X header without the alpha flag (and not
 * animated) over an ALPH chunk and a lossy VP8 bitstream. libwebp's demuxer, Chrome's WebP decoder,
 * drops such an ALPH chunk and shows the image opaque; libwebp's plain decoder applies it. A VP8L
 * bitstream's own alpha is kept either way. The header probe has already walked the chunks.
 */
export function dropsUnflaggedAlpha(bytes: Uint8Array): boolean {
  if (bytes.length < 30 || String.fromCharCode(...bytes.subarray(12, 16)) !== 'VP8X') return false;
  if ((bytes[20]! & 0x12) !== 0) return false; // alpha or animation flag
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const end = Math.min(bytes.length, view.getUint32(4, true) + 8);
  let alph = false;
  for (let at = 12; at + 8 <= end; ) {
    const type = String.fromCharCode(...bytes.subarray(at, at + 4));
    if (type === 'ALPH') alph = true;
    if (type === 'VP8 ') return alph;
    if (type === 'VP8L') return false;
    const size = view.getUint32(at + 4, true);
    at += 8 + size + (size & 1);
  }
  return false;
}
