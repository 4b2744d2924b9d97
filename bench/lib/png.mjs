/**
 * A tiny raster canvas that writes PNG (RGB, zlib from node:zlib) with a 5x7 bitmap font:
 * enough for the benchmark's two charts without a plotting dependency.
 */
import { deflateSync } from 'node:zlib';

// Classic 5x7 font, column-major, bit 0 = top row.
const GLYPHS = {
  ' ': [0, 0, 0, 0, 0], '.': [0, 0x60, 0x60, 0, 0], ',': [0, 0x50, 0x30, 0, 0], '-': [8, 8, 8, 8, 8],
  '/': [0x20, 0x10, 8, 4, 2], '%': [0x23, 0x13, 8, 0x64, 0x62], '(': [0, 0x1c, 0x22, 0x41, 0], ')': [0, 0x41, 0x22, 0x1c, 0],
  ':': [0, 0x36, 0x36, 0, 0], '=': [0x14, 0x14, 0x14, 0x14, 0x14], '_': [0x40, 0x40, 0x40, 0x40, 0x40], '+': [8, 8, 0x3e, 8, 8],
  '<': [8, 0x14, 0x22, 0x41, 0], '>': [0, 0x41, 0x22, 0x14, 8],
  0: [0x3e, 0x51, 0x49, 0x45, 0x3e], 1: [0, 0x42, 0x7f, 0x40, 0], 2: [0x42, 0x61, 0x51, 0x49, 0x46], 3: [0x21, 0x41, 0x45, 0x4b, 0x31],
  4: [0x18, 0x14, 0x12, 0x7f, 0x10], 5: [0x27, 0x45, 0x45, 0x45, 0x39], 6: [0x3c, 0x4a, 0x49, 0x49, 0x30], 7: [1, 0x71, 9, 5, 3],
  8: [0x36, 0x49, 0x49, 0x49, 0x36], 9: [6, 0x49, 0x49, 0x29, 0x1e],
  A: [0x7e, 0x11, 0x11, 0x11, 0x7e], B: [0x7f, 0x49, 0x49, 0x49, 0x36], C: [0x3e, 0x41, 0x41, 0x41, 0x22], D: [0x7f, 0x41, 0x41, 0x22, 0x1c],
  E: [0x7f, 0x49, 0x49, 0x49, 0x41], F: [0x7f, 9, 9, 9, 1], G: [0x3e, 0x41, 0x49, 0x49, 0x7a], H: [0x7f, 8, 8, 8, 0x7f],
  I: [0, 0x41, 0x7f, 0x41, 0], J: [0x20, 0x40, 0x41, 0x3f, 1], K: [0x7f, 8, 0x14, 0x22, 0x41], L: [0x7f, 0x40, 0x40, 0x40, 0x40],
  M: [0x7f, 2, 0x0c, 2, 0x7f], N: [0x7f, 4, 8, 0x10, 0x7f], O: [0x3e, 0x41, 0x41, 0x41, 0x3e], P: [0x7f, 9, 9, 9, 6],
  Q: [0x3e, 0x41, 0x51, 0x21, 0x5e], R: [0x7f, 9, 0x19, 0x29, 0x46], S: [0x46, 0x49, 0x49, 0x49, 0x31], T: [1, 1, 0x7f, 1, 1],
  U: [0x3f, 0x40, 0x40, 0x40, 0x3f], V: [0x1f, 0x20, 0x40, 0x20, 0x1f], W: [0x3f, 0x40, 0x38, 0x40, 0x3f], X: [0x63, 0x14, 8, 0x14, 0x63],
  Y: [7, 8, 0x70, 8, 7], Z: [0x61, 0x51, 0x49, 0x45, 0x43],
  a: [0x20, 0x54, 0x54, 0x54, 0x78], b: [0x7f, 0x48, 0x44, 0x44, 0x38], c: [0x38, 0x44, 0x44, 0x44, 0x20], d: [0x38, 0x44, 0x44, 0x48, 0x7f],
  e: [0x38, 0x54, 0x54, 0x54, 0x18], f: [8, 0x7e, 9, 1, 2], g: [0x0c, 0x52, 0x52, 0x52, 0x3e], h: [0x7f, 8, 4, 4, 0x78],
  i: [0, 0x44, 0x7d, 0x40, 0], j: [0x20, 0x40, 0x44, 0x3d, 0], k: [0x7f, 0x10, 0x28, 0x44, 0], l: [0, 0x41, 0x7f, 0x40, 0],
  m: [0x7c, 4, 0x18, 4, 0x78], n: [0x7c, 8, 4, 4, 0x78], o: [0x38, 0x44, 0x44, 0x44, 0x38], p: [0x7c, 0x14, 0x14, 0x14, 8],
  q: [8, 0x14, 0x14, 0x18, 0x7c], r: [0x7c, 8, 4, 4, 8], s: [0x48, 0x54, 0x54, 0x54, 0x20], t: [4, 0x3f, 0x44, 0x40, 0x20],
  u: [0x3c, 0x40, 0x40, 0x20, 0x7c], v: [0x1c, 0x20, 0x40, 0x20, 0x1c], w: [0x3c, 0x40, 0x30, 0x40, 0x3c], x: [0x44, 0x28, 0x10, 0x28, 0x44],
  y: [0x0c, 0x50, 0x50, 0x50, 0x3c], z: [0x44, 0x64, 0x54, 0x4c, 0x44],
};

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

/** '#rrggbb' → [r, g, b] */
export function rgb(hex) {
  const n = parseInt(hex.slice(1), 16);
  return [(n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
}

export class Canvas {
  constructor(width, height, background = '#ffffff') {
    this.width = width;
    this.height = height;
    this.pixels = Buffer.alloc(width * height * 3);
    this.fillRect(0, 0, width, height, background);
  }

  set(x, y, color) {
    x = Math.round(x);
    y = Math.round(y);
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return;
    const [r, g, b] = rgb(color);
    const i = (y * this.width + x) * 3;
    this.pixels[i] = r;
    this.pixels[i + 1] = g;
    this.pixels[i + 2] = b;
  }

  fillRect(x, y, w, h, color) {
    for (let j = Math.round(y); j < Math.round(y + h); j++) for (let i = Math.round(x); i < Math.round(x + w); i++) this.set(i, j, color);
  }

  /** A line of the given width (square brush), by sampling along its length. */
  line(x0, y0, x1, y1, color, width = 1) {
    const steps = Math.max(1, Math.ceil(Math.hypot(x1 - x0, y1 - y0) * 2));
    const r = (width - 1) / 2;
    for (let s = 0; s <= steps; s++) {
      const x = x0 + ((x1 - x0) * s) / steps;
      const y = y0 + ((y1 - y0) * s) / steps;
      for (let dy = -Math.floor(r); dy <= Math.ceil(r); dy++) for (let dx = -Math.floor(r); dx <= Math.ceil(r); dx++) this.set(x + dx, y + dy, color);
    }
  }

  polyline(points, color, width = 1) {
    for (let i = 1; i < points.length; i++) this.line(points[i - 1][0], points[i - 1][1], points[i][0], points[i][1], color, width);
  }

  textWidth(str, scale = 2) {
    return str.length * 6 * scale;
  }

  /** Text with its top-left corner at (x, y); align 'left' | 'center' | 'right'. */
  text(x, y, str, color = '#000000', scale = 2, align = 'left') {
    const w = this.textWidth(str, scale);
    let cx = align === 'center' ? x - w / 2 : align === 'right' ? x - w : x;
    for (const ch of str) {
      const glyph = GLYPHS[ch] ?? GLYPHS[ch.toUpperCase()] ?? GLYPHS['_'];
      glyph.forEach((column, i) => {
        for (let row = 0; row < 7; row++) if (column & (1 << row)) this.fillRect(cx + i * scale, y + row * scale, scale, scale, color);
      });
      cx += 6 * scale;
    }
  }

  toPNG() {
    const raw = Buffer.alloc((this.width * 3 + 1) * this.height);
    for (let y = 0; y < this.height; y++) {
      raw[y * (this.width * 3 + 1)] = 0; // filter: none
      this.pixels.copy(raw, y * (this.width * 3 + 1) + 1, y * this.width * 3, (y + 1) * this.width * 3);
    }
    const header = Buffer.alloc(13);
    header.writeUInt32BE(this.width, 0);
    header.writeUInt32BE(this.height, 4);
    header[8] = 8; // bit depth
    header[9] = 2; // colour type: RGB
    return Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      chunk('IHDR', header),
      chunk('IDAT', deflateSync(raw, { level: 9 })),
      chunk('IEND', Buffer.alloc(0)),
    ]);
  }
}
