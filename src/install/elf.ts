/**
 * Just enough ELF to find a shared object's DT_RUNPATH / DT_RPATH string in the file, so relocation can rewrite it in
 * place. 64-bit little-endian only (x86_64, aarch64); anything else returns undefined and is patched as plain bytes.
 */
const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const DT_NULL = 0n;
const DT_STRTAB = 5n;
const DT_RPATH = 15n;
const DT_RUNPATH = 29n;

export function isElf(buffer: Buffer): boolean {
  return buffer.length > 64 && buffer[0] === 0x7f && buffer[1] === 0x45 && buffer[2] === 0x4c && buffer[3] === 0x46;
}

export interface StringSlot {
  /** File offset of the first byte of the string. */
  offset: number;
  /** Bytes available: the string's length (its NUL terminator follows). */
  length: number;
  value: string;
}

export function rpathSlots(buffer: Buffer): StringSlot[] {
  if (!isElf(buffer) || buffer[4] !== 2 /* ELFCLASS64 */ || buffer[5] !== 1 /* little-endian */) return [];
  const phoff = Number(buffer.readBigUInt64LE(0x20));
  const phentsize = buffer.readUInt16LE(0x36);
  const phnum = buffer.readUInt16LE(0x38);
  const loads: { vaddr: bigint; offset: bigint; filesz: bigint }[] = [];
  let dynamic: { offset: number; size: number } | undefined;
  for (let i = 0; i < phnum; i++) {
    const base = phoff + i * phentsize;
    if (base + 56 > buffer.length) return [];
    const type = buffer.readUInt32LE(base);
    const offset = buffer.readBigUInt64LE(base + 8);
    const vaddr = buffer.readBigUInt64LE(base + 16);
    const filesz = buffer.readBigUInt64LE(base + 32);
    if (type === PT_LOAD) loads.push({ vaddr, offset, filesz });
    if (type === PT_DYNAMIC) dynamic = { offset: Number(offset), size: Number(filesz) };
  }
  if (!dynamic) return [];
  let strtab: bigint | undefined;
  const paths: bigint[] = [];
  for (let at = dynamic.offset; at + 16 <= Math.min(buffer.length, dynamic.offset + dynamic.size); at += 16) {
    const tag = buffer.readBigInt64LE(at);
    const value = buffer.readBigUInt64LE(at + 8);
    if (tag === DT_NULL) break;
    if (tag === DT_STRTAB) strtab = value;
    if (tag === DT_RPATH || tag === DT_RUNPATH) paths.push(value);
  }
  if (strtab === undefined || paths.length === 0) return [];
  const segment = loads.find((l) => l.vaddr <= strtab! && strtab! < l.vaddr + l.filesz);
  if (!segment) return [];
  const strtabOffset = Number(strtab - segment.vaddr + segment.offset);
  return paths.map((p) => {
    const offset = strtabOffset + Number(p);
    const end = buffer.indexOf(0, offset);
    const value = buffer.toString('utf8', offset, end);
    return { offset, length: end - offset, value };
  });
}
