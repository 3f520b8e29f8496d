/**
 * A small WebP writer for tests that need a file no encoder writes: an animation whose first
 * frame's bitstream codes another size than its ANMF chunk declares, or a frame off its canvas.
 * The VP8L bitstream is a real one (one colour, no transforms), so libwebp decodes it.
 */

const u24 = (n: number) => [n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff];

/**
 * A VP8L bitstream of width x height pixels of one colour (128, 0, 255, `alpha`): its signature,
 * sizes and five codes. `hint` is the header's alpha_is_used bit, by default whether `alpha` is
 * below 255 (a hint only).
 */
export function vp8l(width: number, height: number, alpha = 255, hint = alpha !== 255): Uint8Array {
  const bits: number[] = [];
  const put = (value: number, n: number) => {
    for (let i = 0; i < n; i++) bits.push((value >> i) & 1);
  };
  put(width - 1, 14);
  put(height - 1, 14);
  put(hint ? 1 : 0, 1); // alpha hint
  put(0, 3); // version
  put(0, 1); // no transform
  put(0, 1); // no colour cache
  put(0, 1); // no meta Huffman codes
  // Green, red, blue, alpha and distance: each a simple code of one 8-bit symbol.
  for (const symbol of [0, 128, 255, alpha, 0]) {
    put(1, 1);
    put(0, 1);
    put(1, 1);
    put(symbol, 8);
  }
  const bytes = new Uint8Array(Math.ceil(bits.length / 8) + 8);
  bits.forEach((bit, i) => {
    bytes[i >> 3]! |= bit << (i & 7);
  });
  return Uint8Array.from([0x2f, ...bytes]);
}

export function chunk(type: string, data: Uint8Array | readonly number[]): Uint8Array {
  const body = Uint8Array.from(data);
  const size = body.length;
  return Uint8Array.from([
    ...Buffer.from(type, 'latin1'),
    size & 0xff,
    (size >> 8) & 0xff,
    (size >> 16) & 0xff,
    size >>> 24,
    ...body,
    ...(size & 1 ? [0] : []),
  ]);
}

export function riff(chunks: readonly Uint8Array[]): Uint8Array {
  const body = Buffer.concat([Buffer.from('WEBP'), ...chunks]);
  const header = Buffer.alloc(8);
  header.write('RIFF');
  header.writeUInt32LE(body.length, 4);
  return new Uint8Array(Buffer.concat([header, body]));
}

/** An animated WebP of one frame: a canvas, then an ANMF chunk declaring `frame` around `image`. */
export function animatedWebp(
  canvas: { width: number; height: number },
  frame: { x?: number; y?: number; width: number; height: number },
  image: Uint8Array,
): Uint8Array {
  const vp8x = [0x02, 0, 0, 0, ...u24(canvas.width - 1), ...u24(canvas.height - 1)];
  const anmf = [
    ...u24((frame.x ?? 0) / 2),
    ...u24((frame.y ?? 0) / 2),
    ...u24(frame.width - 1),
    ...u24(frame.height - 1),
    ...u24(100),
    0,
    ...image,
  ];
  return riff([chunk('VP8X', vp8x), chunk('ANIM', [0, 0, 0, 0, 0, 0]), chunk('ANMF', anmf)]);
}

/**
 * An animated WebP of several frames on a `canvas`: each frame's ANMF chunk declares `frame` (x and
 * y even) and holds `image`, by default a VP8L bitstream of the declared size.
 */
export function animation(
  canvas: { width: number; height: number },
  frames: readonly { x?: number; y?: number; width: number; height: number; image?: Uint8Array }[],
): Uint8Array {
  const vp8x = [0x12, 0, 0, 0, ...u24(canvas.width - 1), ...u24(canvas.height - 1)];
  const anmfs = frames.map((frame) =>
    chunk('ANMF', [
      ...u24((frame.x ?? 0) / 2),
      ...u24((frame.y ?? 0) / 2),
      ...u24(frame.width - 1),
      ...u24(frame.height - 1),
      ...u24(100),
      0,
      ...(frame.image ?? chunk('VP8L', vp8l(frame.width, frame.height))),
    ]),
  );
  return riff([chunk('VP8X', vp8x), chunk('ANIM', [0, 0, 0, 0, 0, 0]), ...anmfs]);
}
