// Word count, exactly what `LC_ALL=C wc -w` counts: a word is a maximal run of bytes that are
// not ASCII whitespace (0x20 and 0x09-0x0D).
//
// run() outputs 6 bytes: the unit's word count (u32 LE), then 1 if the input starts with a
// non-space byte (else 0), then 1 if it ends with one (else 0).
// reduce() sums the counts, takes one off for every adjacent pair of units where the first ends
// in a word and the next starts in one (a word split by the chunk boundary), and outputs the total
// as ASCII decimal digits. Units are assumed non-empty: an empty unit reads as all whitespace, so
// a word split around one would be counted twice.

import { CHUNK, input_read, input_size, output_write, readInput, writeDecimal } from "./lib/pastry";

// @ts-ignore: decorator
@inline function isSpace(b: u32): bool {
  return b == 0x20 || b - 0x09 < 5;
}

export function run(): void {
  let buf = changetype<usize>(new ArrayBuffer(CHUNK));
  let count: u32 = 0;
  let inWord = false;
  let startsInWord = false;
  let offset = 0;
  while (true) {
    let n = input_read(offset, buf, CHUNK);
    if (n <= 0) break;
    if (offset == 0) startsInWord = !isSpace(load<u8>(buf));
    for (let i = 0; i < n; i++) {
      let word = !isSpace(load<u8>(buf + <usize>i));
      if (word && !inWord) count++;
      inWord = word;
    }
    offset += n;
  }
  let out = changetype<usize>(new ArrayBuffer(6));
  store<u32>(out, count);
  store<u8>(out, <u8>startsInWord, 4);
  store<u8>(out, <u8>inWord, 5);
  output_write(out, 6);
}

export function reduce(): void {
  let size = input_size();
  let data = readInput(size);
  let total: u64 = 0;
  let prevEndsInWord = false;
  let pos = 0;
  while (pos < size) {
    if (size - pos < 4) abort("wordcount reduce: truncated unit record");
    let len = load<i32>(data + <usize>pos);
    pos += 4;
    if (len != 6 || size - pos < 6) abort("wordcount reduce: a unit output is not 6 bytes");
    let unit = data + <usize>pos;
    total += <u64>load<u32>(unit);
    let startsInWord = load<u8>(unit, 4) != 0;
    if (prevEndsInWord && startsInWord) total--;
    prevEndsInWord = load<u8>(unit, 5) != 0;
    pos += 6;
  }
  writeDecimal(total);
}
