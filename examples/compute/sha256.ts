// SHA-256 (FIPS 180-4), implemented here: no imports beyond the host's input and output.
//
// run() outputs the SHA-256 of the unit's input as 64 lowercase hex characters and "\n".
// There is no reduce: with the runtime's built-in `concat` the result is one line per unit.

import { CHUNK, input_read, output_write } from "./lib/pastry";

const K: usize = memory.data<u32>([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

/** The hash state, eight words. */
const H: usize = memory.data(32, 4);
/** The message schedule, 64 words. */
const W: usize = memory.data(256, 4);

// @ts-ignore: decorator
@inline function k(i: i32): u32 { return load<u32>(K + (<usize>i << 2)); }
// @ts-ignore: decorator
@inline function w(i: i32): u32 { return load<u32>(W + (<usize>i << 2)); }

function init(): void {
  store<u32>(H, 0x6a09e667, 0);
  store<u32>(H, 0xbb67ae85, 4);
  store<u32>(H, 0x3c6ef372, 8);
  store<u32>(H, 0xa54ff53a, 12);
  store<u32>(H, 0x510e527f, 16);
  store<u32>(H, 0x9b05688c, 20);
  store<u32>(H, 0x1f83d9ab, 24);
  store<u32>(H, 0x5be0cd19, 28);
}

/** Compresses the 64-byte block at `p` into H. */
function block(p: usize): void {
  for (let i = 0; i < 16; i++) {
    store<u32>(W + (<usize>i << 2), bswap<u32>(load<u32>(p + (<usize>i << 2))));
  }
  for (let i = 16; i < 64; i++) {
    let w15 = w(i - 15);
    let w2 = w(i - 2);
    let s0 = rotr<u32>(w15, 7) ^ rotr<u32>(w15, 18) ^ (w15 >>> 3);
    let s1 = rotr<u32>(w2, 17) ^ rotr<u32>(w2, 19) ^ (w2 >>> 10);
    store<u32>(W + (<usize>i << 2), w(i - 16) + s0 + w(i - 7) + s1);
  }
  let a = load<u32>(H, 0);
  let b = load<u32>(H, 4);
  let c = load<u32>(H, 8);
  let d = load<u32>(H, 12);
  let e = load<u32>(H, 16);
  let f = load<u32>(H, 20);
  let g = load<u32>(H, 24);
  let h = load<u32>(H, 28);
  for (let i = 0; i < 64; i++) {
    let S1 = rotr<u32>(e, 6) ^ rotr<u32>(e, 11) ^ rotr<u32>(e, 25);
    let ch = (e & f) ^ (~e & g);
    let t1 = h + S1 + ch + k(i) + w(i);
    let S0 = rotr<u32>(a, 2) ^ rotr<u32>(a, 13) ^ rotr<u32>(a, 22);
    let maj = (a & b) ^ (a & c) ^ (b & c);
    let t2 = S0 + maj;
    h = g;
    g = f;
    f = e;
    e = d + t1;
    d = c;
    c = b;
    b = a;
    a = t1 + t2;
  }
  store<u32>(H, load<u32>(H, 0) + a, 0);
  store<u32>(H, load<u32>(H, 4) + b, 4);
  store<u32>(H, load<u32>(H, 8) + c, 8);
  store<u32>(H, load<u32>(H, 12) + d, 12);
  store<u32>(H, load<u32>(H, 16) + e, 16);
  store<u32>(H, load<u32>(H, 20) + f, 20);
  store<u32>(H, load<u32>(H, 24) + g, 24);
  store<u32>(H, load<u32>(H, 28) + h, 28);
}

export function run(): void {
  init();
  // The buffer holds the bytes not yet compressed (fewer than 64) followed by the next piece.
  let buf = changetype<usize>(new ArrayBuffer(CHUNK + 128));
  let have = 0;
  let total: u64 = 0;
  while (true) {
    let n = input_read(<i32>total, buf + <usize>have, CHUNK);
    if (n <= 0) break;
    total += <u64>n;
    have += n;
    let p = 0;
    while (have - p >= 64) {
      block(buf + <usize>p);
      p += 64;
    }
    if (p > 0) {
      memory.copy(buf, buf + <usize>p, <usize>(have - p));
      have -= p;
    }
  }
  // Padding: 0x80, zeros up to 56 mod 64, then the length in bits as a big-endian u64.
  store<u8>(buf + <usize>have, 0x80);
  have++;
  let end = have <= 56 ? 64 : 128;
  memory.fill(buf + <usize>have, 0, <usize>(end - have));
  store<u64>(buf + <usize>(end - 8), bswap<u64>(total << 3));
  block(buf);
  if (end == 128) block(buf + 64);

  let out = buf + 128;
  for (let i = 0; i < 32; i++) {
    let byte = <u32>load<u8>(H + (<usize>(i & ~3)) + <usize>(3 - (i & 3)));
    store<u8>(out + <usize>(i << 1), hex(byte >>> 4));
    store<u8>(out + <usize>(i << 1) + 1, hex(byte & 15));
  }
  store<u8>(out, 0x0a, 64);
  output_write(out, 65);
}

// @ts-ignore: decorator
@inline function hex(nibble: u32): u8 {
  return <u8>(nibble < 10 ? 48 + nibble : 87 + nibble);
}
