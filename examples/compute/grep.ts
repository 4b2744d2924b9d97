// Counts every position where a pattern starts (overlapping occurrences count), like
// `grep -o` would if it counted overlaps. The pattern is the job's argument bytes (length m >= 1).
//
// run() outputs: the count of occurrences lying entirely inside the unit's input (u32 LE), then
// k = min(m - 1, input size) (u32 LE), then the input's first k bytes, then its last k bytes.
// reduce() adds the occurrences that span the boundary between adjacent units: it searches unit
// i's last k bytes followed by unit i+1's first k bytes, counting only matches that start in the
// first part and end in the second, and outputs the total as ASCII decimal digits.
//
// Assumption: the pattern is no longer than any unit's input, so an occurrence spans at most one
// boundary (one that covered a whole unit and both its neighbours is not counted).
// An empty pattern aborts the unit ("grep needs a pattern").

import { arg_size, input_size, output_write, readArg, readInput, writeDecimal } from "./lib/pastry";

/** The pattern and its Knuth-Morris-Pratt failure table. */
let pat: usize = 0;
let m: i32 = 0;
let fail: usize = 0;

function loadPattern(): void {
  m = arg_size();
  if (m <= 0) abort("grep needs a pattern");
  pat = readArg(m);
  // fail[i]: length of the longest proper border of pat[0..i].
  fail = changetype<usize>(new ArrayBuffer(m << 2));
  let j = 0;
  for (let i = 1; i < m; i++) {
    let c = load<u8>(pat + <usize>i);
    while (j > 0 && load<u8>(pat + <usize>j) != c) j = load<i32>(fail + (<usize>(j - 1) << 2));
    if (load<u8>(pat + <usize>j) == c) j++;
    store<i32>(fail + (<usize>i << 2), j);
  }
}

/** Occurrences in text[0..n) that start before `startLimit`. */
function count(text: usize, n: i32, startLimit: i32): u32 {
  let found: u32 = 0;
  let j = 0;
  for (let i = 0; i < n; i++) {
    let c = load<u8>(text + <usize>i);
    while (j > 0 && load<u8>(pat + <usize>j) != c) j = load<i32>(fail + (<usize>(j - 1) << 2));
    if (load<u8>(pat + <usize>j) == c) j++;
    if (j == m) {
      if (i - m + 1 < startLimit) found++;
      j = load<i32>(fail + (<usize>(j - 1) << 2));
    }
  }
  return found;
}

export function run(): void {
  loadPattern();
  let n = input_size();
  let text = readInput(n);
  let k = min(m - 1, n);
  let header = changetype<usize>(new ArrayBuffer(8));
  store<u32>(header, count(text, n, n));
  store<u32>(header, k, 4);
  output_write(header, 8);
  output_write(text, k);
  output_write(text + <usize>(n - k), k);
}

export function reduce(): void {
  loadPattern();
  let size = input_size();
  let data = readInput(size);
  // Room for two edges side by side: at most 2 * (m - 1) bytes.
  let joined = changetype<usize>(new ArrayBuffer(m << 1));
  let total: u64 = 0;
  let prevTail: usize = 0; // the previous unit's last k bytes
  let prevK = -1; // -1 before the first unit
  let pos = 0;
  while (pos < size) {
    if (size - pos < 4) abort("grep reduce: truncated unit record");
    let len = load<i32>(data + <usize>pos);
    pos += 4;
    if (len < 8 || len > size - pos) abort("grep reduce: truncated unit record");
    let unit = data + <usize>pos;
    let k = load<i32>(unit, 4);
    if (k < 0 || k > m - 1 || len != 8 + 2 * k) abort("grep reduce: a unit output has the wrong shape");
    total += <u64>load<u32>(unit);
    if (prevK > 0 && k > 0) {
      // An occurrence across the boundary starts in the previous tail and ends in this head.
      memory.copy(joined, prevTail, <usize>prevK);
      memory.copy(joined + <usize>prevK, unit + 8, <usize>k);
      total += <u64>count(joined, prevK + k, prevK);
    }
    prevTail = unit + 8 + <usize>k;
    prevK = k;
    pos += len;
  }
  writeDecimal(total);
}
