/**
 * Reads lmdb's freelist (the free-page database, FREE_DBI) straight from
 * data.mdb and checks its structure.
 *
 * Why: readers never touch the freelist, only writers do (mdb_page_alloc,
 * mdb_freelist_save). A file whose freelist is damaged therefore opens and
 * reads cleanly, then aborts the process on its first write
 * (`Invalid zero size key`, `mdb_page_alloc error`, `Assertion
 * 'key.mv_size > 0' failed in mdb_page_alloc()`), again on every restart.
 * lmdb-js exposes no handle on FREE_DBI, so the start-up verification walks
 * it here, from the page layout of lmdb-js's liblmdb (64-bit page numbers,
 * 24-byte page headers with a txnid), and refuses such a file at start.
 */
import { openSync, readSync, closeSync, fstatSync } from 'node:fs';

/** Pages of the freelist walked at most; far above any real freelist tree, a guard against cycles. */
export const maxFreelistPages = 1_000_000;

const pageHeaderBytes = 24;
const metaOffset = pageHeaderBytes;
const metaMagic = 0xbeefc0de;
const invalidPage = 0xffffffffffffffffn;
const txnIdBytes = 8;
const pageBranch = 0x01;
const pageLeaf = 0x02;
const pageOverflow = 0x04;
const nodeBigData = 0x01;
const nodeHeaderBytes = 8;
const firstDataPage = 2n;

interface Meta {
  readonly pageSize: number;
  readonly freeRoot: bigint;
  readonly freeDepth: number;
  readonly lastPage: bigint;
  readonly txnId: bigint;
}

/** Returns a description of the first problem found in the freelist, or undefined if it is sound. */
export function findFreelistDamage(file: string): string | undefined {
  const fd = openSync(file, 'r');
  try {
    const fileBytes = fstatSync(fd).size;
    const meta = newestMeta(fd);
    if (typeof meta === 'string') return meta;
    if (meta.freeRoot === invalidPage) return undefined;
    const page = Buffer.alloc(meta.pageSize);
    const readPage = (pgno: bigint): string | undefined => {
      if (pgno < firstDataPage || pgno > meta.lastPage) return `freelist page ${pgno} is outside the file's pages 2..${meta.lastPage}`;
      const offset = Number(pgno) * meta.pageSize;
      if (offset + meta.pageSize > fileBytes) return `freelist page ${pgno} lies beyond the end of the file`;
      readSync(fd, page, 0, meta.pageSize, offset);
      if (page.readBigUInt64LE(0) !== pgno) return `freelist page ${pgno} is labelled page ${page.readBigUInt64LE(0)}`;
      return undefined;
    };
    let previousKey = 0n;
    let visited = 0;
    const walk = (pgno: bigint, depth: number): string | undefined => {
      if (++visited > maxFreelistPages) return `the freelist has more than ${maxFreelistPages} pages (a cycle?)`;
      if (depth > meta.freeDepth) return `the freelist is deeper than its recorded depth ${meta.freeDepth}`;
      const problem = readPage(pgno);
      if (problem !== undefined) return problem;
      const flags = page.readUInt16LE(18);
      const lower = page.readUInt16LE(20);
      const upper = page.readUInt16LE(22);
      // Offsets within a page count from the end of its header (lmdb's PAGEBASE).
      if (lower > upper || pageHeaderBytes + upper > meta.pageSize) return `freelist page ${pgno} has bounds ${lower}..${upper}`;
      const keys = lower >> 1;
      const isLeaf = (flags & pageLeaf) !== 0;
      if (!isLeaf && (flags & pageBranch) === 0) return `freelist page ${pgno} is neither a branch nor a leaf (flags 0x${flags.toString(16)})`;
      // A branch's children are read after this page's nodes, which reuse the buffer.
      const children: bigint[] = [];
      for (let i = 0; i < keys; i++) {
        const offset = page.readUInt16LE(pageHeaderBytes + 2 * i);
        const node = pageHeaderBytes + offset;
        if (offset < upper || node + nodeHeaderBytes > meta.pageSize) return `freelist page ${pgno} node ${i} is at offset ${offset}, outside ${upper}..${meta.pageSize - pageHeaderBytes}`;
        const low = page.readUInt16LE(node);
        const high = page.readUInt16LE(node + 2);
        const nodeFlags = page.readUInt16LE(node + 4);
        const keySize = page.readUInt16LE(node + 6);
        if (node + nodeHeaderBytes + keySize > meta.pageSize) return `freelist page ${pgno} node ${i} runs past the page`;
        if (isLeaf || i > 0) {
          // Keys are transaction ids; only a branch's first key is empty.
          if (keySize !== txnIdBytes) return `freelist page ${pgno} node ${i} has a ${keySize}-byte key (transaction ids are ${txnIdBytes} bytes)`;
          const key = page.readBigUInt64LE(node + nodeHeaderBytes);
          if (key === 0n || key > meta.txnId) return `freelist page ${pgno} node ${i} names transaction ${key} (the file is at ${meta.txnId})`;
          if (isLeaf) {
            if (key <= previousKey) return `freelist page ${pgno} node ${i}: transaction ${key} is out of order (after ${previousKey})`;
            previousKey = key;
          }
        }
        if (isLeaf) {
          const dataSize = low | (high << 16);
          const data = node + nodeHeaderBytes + keySize;
          if ((nodeFlags & nodeBigData) !== 0) {
            if (data + 8 > meta.pageSize) return `freelist page ${pgno} node ${i} runs past the page`;
            const overflow = page.readBigUInt64LE(data);
            const saved = Buffer.from(page);
            const problem = readPage(overflow);
            if (problem !== undefined) return problem;
            if ((page.readUInt16LE(18) & pageOverflow) === 0) return `freelist page ${pgno} node ${i} points at page ${overflow}, which is not an overflow page`;
            saved.copy(page);
          } else if (data + dataSize > meta.pageSize || dataSize < 8) {
            return `freelist page ${pgno} node ${i} has ${dataSize} bytes of page list, outside the page`;
          }
        } else {
          const child = BigInt(low) | (BigInt(high) << 16n) | (BigInt(nodeFlags) << 32n);
          children.push(child);
        }
      }
      for (const child of children) {
        const problem = walk(child, depth + 1);
        if (problem !== undefined) return problem;
      }
      return undefined;
    };
    return walk(meta.freeRoot, 1);
  } finally {
    closeSync(fd);
  }
}

/** The meta page lmdb would use (the valid one with the larger txnid), or what is wrong. */
function newestMeta(fd: number): Meta | string {
  const header = Buffer.alloc(pageHeaderBytes + 144);
  const read = (offset: number): Meta | undefined => {
    if (readSync(fd, header, 0, header.length, offset) < header.length) return undefined;
    if (header.readUInt32LE(metaOffset) !== metaMagic) return undefined;
    return {
      pageSize: header.readUInt32LE(metaOffset + 24),
      freeDepth: header.readUInt16LE(metaOffset + 30),
      freeRoot: header.readBigUInt64LE(metaOffset + 64),
      lastPage: header.readBigUInt64LE(metaOffset + 120),
      txnId: header.readBigUInt64LE(metaOffset + 128),
    };
  };
  const first = read(0);
  if (first === undefined) return 'the first meta page is not an lmdb meta page';
  if (first.pageSize < 512 || first.pageSize > 65536 || (first.pageSize & (first.pageSize - 1)) !== 0) return `the meta page names a page size of ${first.pageSize}`;
  const second = read(first.pageSize);
  if (second === undefined || second.txnId < first.txnId) return first;
  return second;
}
