/**
 * A small AVIF writer for tests that need a file no encoder writes: AV1 data from real files put
 * behind whatever `ispe` a test declares, an alpha item, data in an `idat` box. The structure is
 * what libavif writes (ftyp, meta with hdlr/pitm/iloc/iinf/iref/iprp, then mdat), so the decoder
 * reads what this builds (a test checks that it does).
 */

export interface AvifItem {
  /** The coded AV1 data (a temporal unit: OBUs with size fields). */
  readonly data: Uint8Array;
  /** What ispe declares. */
  readonly width: number;
  readonly height: number;
  /** The av1C box, copied from the file the data came from. */
  readonly av1C: Uint8Array;
  /** Store the data in the meta box's idat (iloc construction method 1) instead of mdat. */
  readonly inIdat?: boolean;
  /** Leave out its pixi property, as libheif 1.11 and older wrote AVIF. */
  readonly withoutPixi?: boolean;
  /** More properties of the item (whole boxes, e.g. clap, irot), after its ispe, av1C and pixi. */
  readonly properties?: readonly Uint8Array[];
  /** Mark `properties` essential, as libavif marks the transformative ones it writes (clap, irot, imir). */
  readonly essentialProperties?: boolean;
  /** Properties in the ipco box after this item's that no item is associated with. */
  readonly unassociated?: readonly Uint8Array[];
}

const text = (s: string) => new TextEncoder().encode(s);
const u8 = (n: number) => Uint8Array.of(n);
const u16 = (n: number) => Uint8Array.of(n >> 8, n & 0xff);
const u32 = (n: number) => Uint8Array.of(n >>> 24, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff);
const concat = (parts: readonly Uint8Array[]) => new Uint8Array(Buffer.concat(parts));

function box(type: string, ...parts: Uint8Array[]): Uint8Array {
  const body = concat(parts);
  return concat([u32(8 + body.length), text(type), body]);
}

function fullBox(type: string, version: number, flags: number, ...parts: Uint8Array[]): Uint8Array {
  return box(type, u8(version), u8(flags >> 16), u8((flags >> 8) & 0xff), u8(flags & 0xff), ...parts);
}

/** The body of the first top-level box of this type (e.g. the mdat of a single-item file). */
export function topLevelBox(file: Uint8Array, type: string): Uint8Array {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  for (let offset = 0; offset + 8 <= file.length; ) {
    const size = view.getUint32(offset);
    if (String.fromCharCode(...file.subarray(offset + 4, offset + 8)) === type)
      return file.subarray(offset + 8, offset + size);
    offset += size;
  }
  throw new Error(`no ${type} box`);
}

/** The first box of this type anywhere in the file, header included (e.g. its av1C). */
export function findBox(file: Uint8Array, type: string): Uint8Array {
  const at = Buffer.from(file).indexOf(type);
  if (at < 4) throw new Error(`no ${type} box`);
  const size = new DataView(file.buffer, file.byteOffset).getUint32(at - 4);
  return file.subarray(at - 4, at - 4 + size);
}

/** An AVIF with a colour item (item 1) and, if given, an alpha item (item 2) for it. */
export function buildAvif(color: AvifItem, alpha?: AvifItem): Uint8Array {
  const items = alpha ? [color, alpha] : [color];
  // As the av1C declares it: high_bitdepth and twelve_bit in its third byte (AV1-ISOBMFF 2.3.3).
  const pixi = (channels: number, av1C: Uint8Array) => {
    const fields = av1C[8 + 2]!;
    const depth = fields & 0x40 ? (fields & 0x20 ? 12 : 10) : 8;
    return fullBox('pixi', 0, 0, u8(channels), ...Array(channels).fill(u8(depth)));
  };
  // Properties, 1-based in ipma: per item its ispe, av1C and pixi; then the alpha auxC.
  const properties: Uint8Array[] = [];
  // Each association's index, with the essential bit (0x80): av1C's, and `properties`' if the item says so.
  const associations = items.map((item, i) => {
    const first = properties.length + 1;
    const own = [
      fullBox('ispe', 0, 0, u32(item.width), u32(item.height)),
      item.av1C,
      ...(item.withoutPixi ? [] : [pixi(i === 0 ? 3 : 1, item.av1C)]),
    ];
    const more = item.properties ?? [];
    properties.push(...own, ...more, ...(item.unassociated ?? []));
    return [
      ...own.map((_, j) => (j === 1 ? 0x80 : 0) | (first + j)),
      ...more.map((_, j) => (item.essentialProperties ? 0x80 : 0) | (first + own.length + j)),
    ];
  });
  if (alpha) {
    properties.push(fullBox('auxC', 0, 0, text('urn:mpeg:mpegB:cicp:systems:auxiliary:alpha\0')));
    associations[1]!.push(properties.length);
  }
  const ipma = fullBox(
    'ipma',
    0,
    0,
    u32(items.length),
    ...associations.flatMap((list, i) => [u16(i + 1), u8(list.length), ...list.map(u8)]),
  );
  const iinf = fullBox(
    'iinf',
    0,
    0,
    u16(items.length),
    ...items.map((_, i) => fullBox('infe', 2, i === 0 ? 0 : 1, u16(i + 1), u16(0), text('av01'), u8(0))),
  );
  const iref = alpha ? [fullBox('iref', 0, 0, box('auxl', u16(2), u16(1), u16(1)))] : [];
  const idatItems = items.filter((item) => item.inIdat);
  const idat = idatItems.length > 0 ? [box('idat', ...idatItems.map((item) => item.data))] : [];
  // iloc version 1 (construction methods), 4-byte offsets and lengths, no base offset.
  const iloc = (mdatStart: number) => {
    let inMdat = mdatStart;
    let inIdat = 0;
    return fullBox(
      'iloc',
      1,
      0,
      u8(0x44),
      u8(0x00),
      u16(items.length),
      ...items.flatMap((item, i) => {
        const offset = item.inIdat ? inIdat : inMdat;
        if (item.inIdat) inIdat += item.data.length;
        else inMdat += item.data.length;
        return [u16(i + 1), u16(item.inIdat ? 1 : 0), u16(0), u16(1), u32(offset), u32(item.data.length)];
      }),
    );
  };
  return avifFile(
    (mdatStart) => [iloc(mdatStart), iinf, ...iref, box('iprp', box('ipco', ...properties), ipma), ...idat],
    items.filter((item) => !item.inIdat).map((item) => item.data),
  );
}

/**
 * ftyp ('avif'), a meta box (hdlr 'pict', primary item 1, then `children`, given where the mdat's
 * data starts) and an mdat of `data`.
 */
function avifFile(children: (mdatStart: number) => Uint8Array[], data: readonly Uint8Array[]): Uint8Array {
  const meta = (mdatStart: number) =>
    fullBox(
      'meta',
      0,
      0,
      fullBox('hdlr', 0, 0, u32(0), text('pict'), u32(0), u32(0), u32(0), u8(0)),
      fullBox('pitm', 0, 0, u16(1)),
      ...children(mdatStart),
    );
  const ftyp = box('ftyp', text('avif'), u32(0), text('avifmif1miaf'));
  const mdatStart = ftyp.length + meta(0).length + 8;
  return concat([ftyp, meta(mdatStart), box('mdat', ...data)]);
}

/**
 * The file as an image sequence: its major brand 'avis', and one AV1 track (moov, then its own
 * mdat) of one sample, `track`'s data, appended. libavif decodes such a file from the track, not
 * from the primary item (AVIF_DECODER_SOURCE_AUTO). The boxes are those avifenc writes for a
 * sequence, with the fields libavif reads.
 */
export function withTrack(
  file: Uint8Array,
  track: AvifItem,
  entries: readonly string[] = ['av01'],
): Uint8Array {
  const zeros = (n: number) => new Uint8Array(n);
  const matrix = concat([
    u32(0x10000),
    u32(0),
    u32(0),
    u32(0),
    u32(0x10000),
    u32(0),
    u32(0),
    u32(0),
    u32(0x40000000),
  ]);
  const mvhd = fullBox(
    'mvhd',
    0,
    0,
    u32(0),
    u32(0),
    u32(1),
    u32(1),
    u32(0x10000),
    u16(0x100),
    zeros(10),
    matrix,
    zeros(24),
    u32(2),
  );
  const tkhd = fullBox(
    'tkhd',
    0,
    3,
    u32(0),
    u32(0),
    u32(1),
    u32(0),
    u32(1),
    zeros(8),
    u16(0),
    u16(0),
    u16(0),
    u16(0),
    matrix,
    u32(track.width * 0x10000),
    u32(track.height * 0x10000),
  );
  const mdhd = fullBox('mdhd', 0, 0, u32(0), u32(0), u32(1), u32(1), u16(0x55c4), u16(0));
  const hdlr = fullBox('hdlr', 0, 0, u32(0), text('pict'), zeros(12), u8(0));
  const vmhd = fullBox('vmhd', 0, 1, zeros(8));
  const dinf = box('dinf', fullBox('dref', 0, 0, u32(1), fullBox('url ', 0, 1)));
  const av01 = box(
    'av01',
    zeros(6),
    u16(1),
    zeros(16),
    u16(track.width),
    u16(track.height),
    u32(0x480000),
    u32(0x480000),
    u32(0),
    u16(1),
    zeros(32),
    u16(0x18),
    u16(0xffff),
    track.av1C,
  );
  const stbl = (offset: number) =>
    box(
      'stbl',
      // Sample entries of other types before the av01 one, which libavif finds among them.
      fullBox(
        'stsd',
        0,
        0,
        u32(entries.length),
        ...entries.map((type) => (type === 'av01' ? av01 : box(type, zeros(8)))),
      ),
      fullBox('stts', 0, 0, u32(1), u32(1), u32(1)),
      fullBox('stsc', 0, 0, u32(1), u32(1), u32(1), u32(1)),
      fullBox('stsz', 0, 0, u32(0), u32(1), u32(track.data.length)),
      fullBox('stco', 0, 0, u32(1), u32(offset)),
    );
  const moov = (offset: number) =>
    box('moov', mvhd, box('trak', tkhd, box('mdia', mdhd, hdlr, box('minf', vmhd, dinf, stbl(offset)))));
  const sequence = concat([file, moov(file.length + moov(0).length + 8), box('mdat', track.data)]);
  sequence.set(text('avis'), 8);
  return sequence;
}

/**
 * An AVIF whose primary item is a `grid` of columns x rows copies of `tile` (its data in the mdat
 * once per tile), the grid's description in the meta box's idat. Pixi as `pixi` says: on the grid
 * item, on the tiles, both or neither (libheif 1.11 and older wrote none).
 */
export function buildAvifGrid(
  tile: AvifItem,
  columns: number,
  rows: number,
  pixi: { grid: boolean; tiles: boolean },
): Uint8Array {
  const count = columns * rows;
  const tiles = Array.from({ length: count }, (_, i) => i + 2);
  const fields = tile.av1C[8 + 2]!;
  const depth = fields & 0x40 ? (fields & 0x20 ? 12 : 10) : 8;
  const properties = [
    fullBox('ispe', 0, 0, u32(tile.width * columns), u32(tile.height * rows)),
    fullBox('ispe', 0, 0, u32(tile.width), u32(tile.height)),
    tile.av1C,
    fullBox('pixi', 0, 0, u8(3), u8(depth), u8(depth), u8(depth)),
  ];
  const ipma = fullBox(
    'ipma',
    0,
    0,
    u32(1 + count),
    u16(1),
    ...(pixi.grid ? [u8(2), u8(1), u8(4)] : [u8(1), u8(1)]),
    ...tiles.flatMap((id) => [
      u16(id),
      ...(pixi.tiles ? [u8(3), u8(2), u8(0x83), u8(4)] : [u8(2), u8(2), u8(0x83)]),
    ]),
  );
  const grid = Uint8Array.of(
    0,
    0,
    rows - 1,
    columns - 1,
    ...u16(tile.width * columns),
    ...u16(tile.height * rows),
  );
  const iinf = fullBox(
    'iinf',
    0,
    0,
    u16(1 + count),
    fullBox('infe', 2, 0, u16(1), u16(0), text('grid'), u8(0)),
    ...tiles.map((id) => fullBox('infe', 2, 1, u16(id), u16(0), text('av01'), u8(0))),
  );
  const iref = fullBox('iref', 0, 0, box('dimg', u16(1), u16(count), ...tiles.map(u16)));
  const iloc = (mdatStart: number) =>
    fullBox(
      'iloc',
      1,
      0,
      u8(0x44),
      u8(0x00),
      u16(1 + count),
      u16(1),
      u16(1),
      u16(0),
      u16(1),
      u32(0),
      u32(grid.length),
      ...tiles.flatMap((id, i) => [
        u16(id),
        u16(0),
        u16(0),
        u16(1),
        u32(mdatStart + i * tile.data.length),
        u32(tile.data.length),
      ]),
    );
  return avifFile(
    (mdatStart) => [
      iloc(mdatStart),
      iinf,
      iref,
      box('iprp', box('ipco', ...properties), ipma),
      box('idat', grid),
    ],
    tiles.map(() => tile.data),
  );
}
