import { InvalidArgumentError } from '../errors';

/** The host API: the only imports a work unit's module may have (README → Distributed computing). */
export const HOST_FUNCTIONS: Record<string, readonly string[]> = {
  pastry: ['input_size', 'input_read', 'arg_size', 'arg_read', 'output_write'],
  // AssemblyScript's abort(): ends the unit with its message.
  env: ['abort'],
};

/** WebAssembly's page: memory grows in these. */
export const WASM_PAGE = 65_536;

/**
 * Checks a module against the host API and returns a copy whose memory can never grow past
 * `maxBytes`: its memory section's maximum is rewritten (lowered, or set when absent), so a
 * module allocating past its cap fails its own memory.grow and traps, and no other memory
 * of the node is at stake. Throws InvalidArgumentError naming what is wrong.
 */
export function prepareModule(bytes: Uint8Array, entries: readonly string[], maxBytes: number): { bytes: Buffer; module: WebAssembly.Module } {
  let module: WebAssembly.Module;
  try {
    module = new WebAssembly.Module(bytes);
  } catch (error) {
    throw new InvalidArgumentError(`not a valid WebAssembly module: ${(error as Error).message}`);
  }
  for (const i of WebAssembly.Module.imports(module)) {
    if (i.kind !== 'function' || !HOST_FUNCTIONS[i.module]?.includes(i.name)) {
      throw new InvalidArgumentError(`the module imports ${i.kind} ${i.module}.${i.name}, which the sandbox does not provide: only ${hostList()}`);
    }
  }
  const exported = new Map(WebAssembly.Module.exports(module).map((e) => [e.name, e.kind]));
  if (exported.get('memory') !== 'memory') throw new InvalidArgumentError('the module must export its memory as "memory"');
  for (const entry of entries) {
    if (exported.get(entry) !== 'function') throw new InvalidArgumentError(`the module exports no function "${entry}"`);
  }
  const capped = capMemory(Buffer.from(bytes), Math.floor(maxBytes / WASM_PAGE));
  return { bytes: capped, module: new WebAssembly.Module(capped) };
}

function hostList(): string {
  return Object.entries(HOST_FUNCTIONS)
    .flatMap(([m, names]) => names.map((n) => `${m}.${n}`))
    .join(', ');
}

/** The module with its defined memory's maximum at most `maxPages` pages. */
export function capMemory(bytes: Buffer, maxPages: number): Buffer {
  if (bytes.length < 8 || bytes.readUInt32LE(0) !== 0x6d736100) throw new InvalidArgumentError('not a WebAssembly binary');
  const parts: Buffer[] = [bytes.subarray(0, 8)];
  let pos = 8;
  let found = false;
  while (pos < bytes.length) {
    const id = bytes[pos]!;
    const size = readLeb(bytes, pos + 1);
    const start = size.next;
    const end = start + size.value;
    if (end > bytes.length) throw new InvalidArgumentError('a section of the module runs past its end');
    if (id === 5) {
      parts.push(Buffer.from([5]), ...withSize(memorySection(bytes.subarray(start, end), maxPages)));
      found = true;
    } else {
      parts.push(bytes.subarray(pos, end));
    }
    pos = end;
  }
  if (!found) throw new InvalidArgumentError('the module defines no memory');
  return Buffer.concat(parts);
}

function memorySection(body: Buffer, maxPages: number): Buffer {
  const count = readLeb(body, 0);
  if (count.value !== 1) throw new InvalidArgumentError(`the module defines ${count.value} memories; one is supported`);
  let pos = count.next;
  const flags = body[pos++]!;
  if (flags !== 0 && flags !== 1) throw new InvalidArgumentError('shared or 64-bit memory is not supported');
  const min = readLeb(body, pos);
  pos = min.next;
  let max = maxPages;
  if (flags === 1) max = Math.min(readLeb(body, pos).value, maxPages);
  if (min.value > maxPages) {
    throw new InvalidArgumentError(`the module starts with ${(min.value * WASM_PAGE) / 1048576} MiB of memory, over the sandbox's cap of ${(maxPages * WASM_PAGE) / 1048576} MiB`);
  }
  return Buffer.concat([writeLeb(1), Buffer.from([1]), writeLeb(min.value), writeLeb(max)]);
}

function withSize(body: Buffer): Buffer[] {
  return [writeLeb(body.length), body];
}

function readLeb(bytes: Buffer, at: number): { value: number; next: number } {
  let value = 0;
  let shift = 0;
  let pos = at;
  for (;;) {
    if (pos >= bytes.length || shift > 28) throw new InvalidArgumentError('a malformed number in the module');
    const b = bytes[pos++]!;
    value += (b & 0x7f) * 2 ** shift;
    if ((b & 0x80) === 0) return { value, next: pos };
    shift += 7;
  }
}

function writeLeb(value: number): Buffer {
  const out: number[] = [];
  let v = value;
  do {
    let b = v & 0x7f;
    v = Math.floor(v / 128);
    if (v !== 0) b |= 0x80;
    out.push(b);
  } while (v !== 0);
  return Buffer.from(out);
}
