// The host ABI of Pastry's compute runtime, for AssemblyScript modules.
//
// A module may import only these functions (import module "pastry") and AssemblyScript's own
// "env"."abort" (which ends the unit with an error). It exports `memory` and `run(): void`, run
// once per unit, and optionally `reduce(): void`, run once on the coordinating node: its input
// is every unit's output in unit order, each preceded by its length as a u32 little-endian, and
// its output is the job's result. The job's argument bytes are available to both.
//
// Not a module of its own: build.sh compiles only the files beside this directory.

/** Bytes in this unit's input. */
@external("pastry", "input_size")
export declare function input_size(): i32;

/** Copies up to `len` input bytes from `offset` to memory at `ptr`; returns the count (0 at the end). */
@external("pastry", "input_read")
export declare function input_read(offset: i32, ptr: usize, len: i32): i32;

/** Bytes in the job's argument (0 when there is none). */
@external("pastry", "arg_size")
export declare function arg_size(): i32;

/** Like input_read, for the job's argument. */
@external("pastry", "arg_read")
export declare function arg_read(offset: i32, ptr: usize, len: i32): i32;

/** Appends `len` bytes from memory at `ptr` to the unit's output. */
@external("pastry", "output_write")
export declare function output_write(ptr: usize, len: i32): void;

/** Input is read in pieces of this size where streaming is natural. */
export const CHUNK: i32 = 64 * 1024;

/** Reads the whole input into fresh memory; returns its address (the size is input_size()). */
export function readInput(size: i32): usize {
  let ptr = changetype<usize>(new ArrayBuffer(size));
  let done = 0;
  while (done < size) {
    let n = input_read(done, ptr + <usize>done, min(size - done, CHUNK));
    if (n <= 0) break;
    done += n;
  }
  return ptr;
}

/** Reads the whole argument into fresh memory; returns its address (the size is arg_size()). */
export function readArg(size: i32): usize {
  let ptr = changetype<usize>(new ArrayBuffer(size));
  let done = 0;
  while (done < size) {
    let n = arg_read(done, ptr + <usize>done, size - done);
    if (n <= 0) break;
    done += n;
  }
  return ptr;
}

const SCRATCH: usize = memory.data(24);

/** Writes `value` to the output as ASCII decimal digits (no newline). */
export function writeDecimal(value: u64): void {
  let end = SCRATCH + 24;
  let p = end;
  do {
    p--;
    store<u8>(p, <u8>(48 + <u32>(value % 10)));
    value /= 10;
  } while (value != 0);
  output_write(p, <i32>(end - p));
}
