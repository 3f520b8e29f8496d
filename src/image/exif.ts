/**
 * Reads the Orientation tag (0x0112) from an EXIF payload. Accepts the TIFF structure with or without
 * the "Exif\0\0" preamble that JPEG APP1 uses and some PNG/WebP writers copy. Every read is bounds
 * checked: a malformed EXIF block yields undefined (the image is still usable), never an exception.
 *
 * As Chrome 156 reads it (JPEG Exif and PNG eXIf alike, checked in /usr/bin/chromium): the first
 * Orientation entry that is one SHORT of value 1 to 8, in IFD0's entry order, an Exif sub-IFD
 * (tag 0x8769, one LONG) searched where its entry comes; an entry of another type or count, or
 * another value, is passed over. Chrome shows a file whose only Orientation is a LONG unturned.
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
  return orientationIn(view, little, view.getUint32(4, little), true);
}

const ORIENTATION = 0x0112;
const EXIF_IFD = 0x8769;
const SHORT = 3;
const LONG = 4;

/** The Orientation in the IFD at `ifd`, and (from IFD0 only: one level) in its Exif sub-IFD. */
function orientationIn(view: DataView, little: boolean, ifd: number, root: boolean): number | undefined {
  if (ifd + 2 > view.byteLength) return undefined;
  const count = view.getUint16(ifd, little);
  for (let i = 0; i < count; i++) {
    const entry = ifd + 2 + i * 12;
    if (entry + 12 > view.byteLength) return undefined;
    const tag = view.getUint16(entry, little);
    const type = view.getUint16(entry + 2, little);
    const values = view.getUint32(entry + 4, little);
    if (tag === ORIENTATION && type === SHORT && values === 1) {
      const value = view.getUint16(entry + 8, little);
      if (value >= 1 && value <= 8) return value;
    } else if (root && tag === EXIF_IFD && type === LONG && values === 1) {
      const value = orientationIn(view, little, view.getUint32(entry + 8, little), false);
      if (value !== undefined) return value;
    }
  }
  return undefined;
}

function hasPrefix(bytes: Uint8Array, prefix: readonly number[]): boolean {
  return bytes.length >= prefix.length && prefix.every((byte, i) => bytes[i] === byte);
}
