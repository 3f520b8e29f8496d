/**
 * Reads the Orientation tag (0x0112) from an EXIF payload. Accepts the TIFF structure with or without
 * the "Exif\0\0" preamble that JPEG APP1 uses and some PNG/WebP writers copy. Every read is bounds
 * checked: a malformed EXIF block yields undefined (the image is still usable), never an exception.
 */
export function readExifOrientation(payload: Uint8Array): number | undefined {
  let tiff = payload;
  if (hasPrefix(tiff, [0x45, 0x78, 0x69, 0x66, 0, 0])) tiff = tiff.subarray(6);
  if (tiff.length < 8) return undefined;
  const view = new DataView(tiff.buffer, tiff.byteOffset, tiff.byteLength);
  const order = view.getUint16(0);
  if (order !== 0x4949 && order !== 0x4d4d) return undefined;
  const little = order === 0x4949;
  if (view.getUint16(2, little) !== 42) return undefined;
  const ifd = view.getUint32(4, little);
  if (ifd + 2 > tiff.length) return undefined;
  const count = view.getUint16(ifd, little);
  for (let i = 0; i < count; i++) {
    const entry = ifd + 2 + i * 12;
    if (entry + 12 > tiff.length) return undefined;
    if (view.getUint16(entry, little) !== 0x0112) continue;
    const type = view.getUint16(entry + 2, little);
    // SHORT as the standard says; some writers use LONG.
    const value =
      type === 3 ? view.getUint16(entry + 8, little) : type === 4 ? view.getUint32(entry + 8, little) : 0;
    return value >= 1 && value <= 8 ? value : undefined;
  }
  return undefined;
}

function hasPrefix(bytes: Uint8Array, prefix: readonly number[]): boolean {
  return bytes.length >= prefix.length && prefix.every((byte, i) => bytes[i] === byte);
}
