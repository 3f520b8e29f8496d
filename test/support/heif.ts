/**
 * A small HEIF writer for tests that need a file no encoder writes: items with several property
 * associations, derived items (`iden`, `iovl`), an alpha item of another size. HEVC data and its
 * `hvcC` come from a single-image HEIC fixture (heifParts), so libheif can decode what this builds.
 */

const text = (s: string) => new TextEncoder().encode(s);
const u8 = (n: number) => Uint8Array.of(n);
const u16 = (n: number) => Uint8Array.of(n >> 8, n & 0xff);
const u32 = (n: number) => Uint8Array.of(n >>> 24, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff);
const concat = (parts: readonly Uint8Array[]) => new Uint8Array(Buffer.concat(parts));

export function box(type: string, ...parts: Uint8Array[]): Uint8Array {
  const body = concat(parts);
  return concat([u32(8 + body.length), text(type), body]);
}

export function fullBox(type: string, version: number, flags: number, ...parts: Uint8Array[]): Uint8Array {
  return box(type, u8(version), u8(flags >> 16), u8((flags >> 8) & 0xff), u8(flags & 0xff), ...parts);
}

export const ispe = (width: number, height: number) => fullBox('ispe', 0, 0, u32(width), u32(height));
const i32 = (n: number) => u32(n >>> 0);

/**
 * A `clap` keeping `width` x `height` at (`left`, `top`) of an `imageWidth` x `imageHeight` image
 * (what `avifenc --crop` writes): the offsets are of the rectangle's centre from the image's, in
 * halves.
 */
export const clap = (
  crop: { left: number; top: number; width: number; height: number },
  imageWidth: number,
  imageHeight: number,
) =>
  box(
    'clap',
    u32(crop.width),
    u32(1),
    u32(crop.height),
    u32(1),
    i32(2 * crop.left + crop.width - imageWidth),
    u32(2),
    i32(2 * crop.top + crop.height - imageHeight),
    u32(2),
  );

export const alphaAuxC = () => fullBox('auxC', 0, 0, text('urn:mpeg:hevc:2015:auxid:1\0'));

export interface HeifItem {
  readonly id: number;
  readonly type: string;
  /** The item's data, in mdat; none for an item without data (`iden`). */
  readonly data?: Uint8Array;
  readonly hidden?: boolean;
}

export interface HeifFile {
  readonly items: readonly HeifItem[];
  readonly primary: number;
  /** The ipco boxes, 1-based in the associations. */
  readonly properties: readonly Uint8Array[];
  /** ipma entries, in order, repeats allowed: item and property indices. */
  readonly associations: readonly (readonly [number, readonly number[]])[];
  /** iref entries: type, from, to. */
  readonly references?: readonly (readonly [string, number, readonly number[]])[];
  /** The iloc entries' items, in order (default: each item with data, once). */
  readonly locations?: readonly number[];
  /** The infe entries' items, in order (default: each item once). */
  readonly infos?: readonly number[];
}

export function buildHeif(file: HeifFile): Uint8Array {
  const item = (id: number) => file.items.find((i) => i.id === id)!;
  const infos = file.infos ?? file.items.map((i) => i.id);
  const iinf = fullBox(
    'iinf',
    0,
    0,
    u16(infos.length),
    ...infos.map((id) =>
      fullBox('infe', 2, item(id).hidden ? 1 : 0, u16(id), u16(0), text(item(id).type), u8(0)),
    ),
  );
  const located = file.locations ?? file.items.filter((i) => i.data).map((i) => i.id);
  const withData = file.items.filter((i) => i.data);
  const offsets = (mdatStart: number) => {
    const at = new Map<number, number>();
    let offset = mdatStart;
    for (const i of withData) {
      at.set(i.id, offset);
      offset += i.data!.length;
    }
    return at;
  };
  const iloc = (mdatStart: number) => {
    const at = offsets(mdatStart);
    return fullBox(
      'iloc',
      0,
      0,
      u16(0x4400),
      u16(located.length),
      ...located.flatMap((id) => [
        u16(id),
        u16(0),
        u16(1),
        u32(at.get(id) ?? 0),
        u32(item(id).data?.length ?? 0),
      ]),
    );
  };
  const ipma = fullBox(
    'ipma',
    0,
    0,
    u32(file.associations.length),
    ...file.associations.flatMap(([id, indices]) => [u16(id), u8(indices.length), ...indices.map(u8)]),
  );
  const refs = file.references ?? [];
  const iref =
    refs.length > 0
      ? [
          fullBox(
            'iref',
            0,
            0,
            ...refs.map(([type, from, to]) => box(type, u16(from), u16(to.length), ...to.map(u16))),
          ),
        ]
      : [];
  const meta = (mdatStart: number) =>
    fullBox(
      'meta',
      0,
      0,
      fullBox('hdlr', 0, 0, u32(0), text('pict'), u32(0), u32(0), u32(0), u8(0)),
      fullBox('pitm', 0, 0, u16(file.primary)),
      iloc(mdatStart),
      iinf,
      ...iref,
      box('iprp', box('ipco', ...file.properties), ipma),
    );
  const ftyp = box('ftyp', text('heic'), u32(0), text('mif1heicmiaf'));
  const mdatStart = ftyp.length + meta(0).length + 8;
  const mdat = box('mdat', ...withData.map((i) => i.data!));
  return concat([ftyp, meta(mdatStart), mdat]);
}

/** A single-image HEIC's hvcC box (header included) and its item's data (iloc version 0, one extent). */
export function heifParts(file: Uint8Array): { hvcC: Uint8Array; data: Uint8Array } {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const at = Buffer.from(file).indexOf('hvcC') - 4;
  const hvcC = file.subarray(at, at + view.getUint32(at));
  const iloc = Buffer.from(file).indexOf('iloc') + 4;
  const version = file[iloc]!;
  const sizes = view.getUint16(iloc + 4);
  if (sizes >> 8 !== 0x44 || ![0, 4].includes((sizes >> 4) & 0xf) || version > 1)
    throw new Error('heifParts reads 4-byte offsets and lengths only');
  let p = iloc + 8 + 2 + (version === 1 ? 2 : 0) + 2; // count, item, [method], data reference
  const base = (sizes >> 4) & 0xf ? view.getUint32(p) : 0;
  p += ((sizes >> 4) & 0xf) + 2; // base offset, extent count
  const offset = base + view.getUint32(p);
  const length = view.getUint32(p + 4);
  return { hvcC, data: file.subarray(offset, offset + length) };
}
