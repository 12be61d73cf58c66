// A PNG decoder just big enough to read a browser screenshot: 8-bit RGB or RGBA, not interlaced.
// A PNG is a signature, then chunks (length, type, data, CRC); the IDAT chunks together are one zlib
// stream of scanlines, each a filter-type byte then the filtered row.
// Spec: https://www.w3.org/TR/png-3/ (§7.3 filtering, §9 filter algorithms).
import { inflateSync } from 'node:zlib';

export interface DecodedPng {
  width: number;
  height: number;
  /** 3 (RGB) or 4 (RGBA) bytes per pixel. */
  channels: 3 | 4;
  data: Uint8Array;
}

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

export function decodePng(file: Uint8Array): DecodedPng {
  if (!SIGNATURE.every((b, i) => file[i] === b)) throw new Error('not a PNG file');
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  let width = 0;
  let height = 0;
  let channels: 3 | 4 = 3;
  const idat: Uint8Array[] = [];
  for (let at = 8; at + 8 <= file.length; ) {
    const length = view.getUint32(at);
    const type = String.fromCharCode(...file.subarray(at + 4, at + 8));
    const data = file.subarray(at + 8, at + 8 + length);
    if (type === 'IHDR') {
      width = view.getUint32(at + 8);
      height = view.getUint32(at + 12);
      const [bitDepth, colorType, , , interlace] = data.subarray(8, 13);
      if (bitDepth !== 8 || (colorType !== 2 && colorType !== 6) || interlace !== 0) {
        throw new Error(`unsupported PNG: bit depth ${bitDepth}, colour type ${colorType}, interlace ${interlace} (only 8-bit RGB/RGBA, not interlaced)`);
      }
      channels = colorType === 6 ? 4 : 3;
    } else if (type === 'IDAT') idat.push(data);
    else if (type === 'IEND') break;
    at += 12 + length;
  }
  if (width === 0 || height === 0) throw new Error('PNG without IHDR');
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  if (raw.length < height * (stride + 1)) throw new Error(`PNG data too short: ${raw.length} bytes for ${width}×${height}`);
  const out = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    const src = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const row = y * stride;
    const prior = row - stride;
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? out[row + i - channels]! : 0; // left
      const b = y > 0 ? out[prior + i]! : 0; // up
      const c = y > 0 && i >= channels ? out[prior + i - channels]! : 0; // up-left
      let predictor: number;
      switch (filter) {
        case 0:
          predictor = 0;
          break;
        case 1:
          predictor = a;
          break;
        case 2:
          predictor = b;
          break;
        case 3:
          predictor = (a + b) >> 1;
          break;
        case 4: {
          const p = a + b - c;
          const pa = Math.abs(p - a);
          const pb = Math.abs(p - b);
          const pc = Math.abs(p - c);
          predictor = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
          break;
        }
        default:
          throw new Error(`bad PNG filter type ${filter} on row ${y}`);
      }
      out[row + i] = (src[i]! + predictor) & 0xff;
    }
  }
  return { width, height, channels, data: out };
}

/** Pixels whose RGB is within `tolerance` of `hex` on every channel. */
export function countPixelsNear(png: DecodedPng, hex: string, tolerance = 12): number {
  const rgb = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  let n = 0;
  for (let p = 0; p < png.data.length; p += png.channels) {
    if (Math.abs(png.data[p]! - rgb[0]!) <= tolerance && Math.abs(png.data[p + 1]! - rgb[1]!) <= tolerance && Math.abs(png.data[p + 2]! - rgb[2]!) <= tolerance) n++;
  }
  return n;
}

/** A solid area of one colour: its bounding box and how many pixels it has. */
export interface Region {
  x: number;
  y: number;
  width: number;
  height: number;
  pixels: number;
}

/**
 * The 4-connected areas of pixels within `tolerance` of `hex`, largest first: a bar of a chart is
 * one region, so a test can check each bar's size in the screenshot, not only the colour's total.
 */
export function regionsNear(png: DecodedPng, hex: string, tolerance = 12): Region[] {
  const rgb = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  const { width, height, channels, data } = png;
  const match = new Uint8Array(width * height);
  for (let i = 0; i < width * height; i++) {
    const p = i * channels;
    match[i] = Math.abs(data[p]! - rgb[0]!) <= tolerance && Math.abs(data[p + 1]! - rgb[1]!) <= tolerance && Math.abs(data[p + 2]! - rgb[2]!) <= tolerance ? 1 : 0;
  }
  const regions: Region[] = [];
  const stack: number[] = [];
  for (let start = 0; start < match.length; start++) {
    if (match[start] !== 1) continue;
    match[start] = 2;
    stack.push(start);
    let [x0, y0, x1, y1, pixels] = [width, height, 0, 0, 0];
    while (stack.length) {
      const i = stack.pop()!;
      const x = i % width;
      const y = (i - x) / width;
      pixels++;
      x0 = Math.min(x0, x);
      x1 = Math.max(x1, x);
      y0 = Math.min(y0, y);
      y1 = Math.max(y1, y);
      for (const n of [x > 0 ? i - 1 : -1, x < width - 1 ? i + 1 : -1, y > 0 ? i - width : -1, y < height - 1 ? i + width : -1]) {
        if (n >= 0 && match[n] === 1) {
          match[n] = 2;
          stack.push(n);
        }
      }
    }
    regions.push({ x: x0, y: y0, width: x1 - x0 + 1, height: y1 - y0 + 1, pixels });
  }
  return regions.sort((a, b) => b.pixels - a.pixels);
}
