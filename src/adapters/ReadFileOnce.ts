/**
 * A file read through one descriptor: opened without blocking (and, unless asked to follow, without following a
 * symlink), `fstat`ed, read and closed, so what is read is what was checked (a file swapped for a symlink meanwhile
 * fails with ELOOP instead of being followed, a FIFO opens without waiting and is not read), in four system calls.
 */
import { closeQuietly } from "./AtomicFile.ts"
import type { TreeFs } from "./TreeFs.ts"

/** A regular file's bytes, and its permission bits as `fstat` gave them when it was read. */
export interface RegularFile {
  readonly bytes: Buffer
  readonly mode: number
}

export type OnceRead =
  | { readonly _tag: "Regular"; readonly file: RegularFile }
  /** what was opened is not a regular file (it was not read) */
  | { readonly _tag: "NotRegular"; readonly isDirectory: boolean }

/** `readFileSync`'s chunk for a file whose size says nothing (0, as procfs reports) */
const CHUNK_BYTES = 8192

/**
 * Reads `path` if it is a regular file, never blocking, and never following a symlink at its last component (throws
 * ELOOP) unless `follow`. With `maxBytes`, a bigger file is refused before it is read (or, when `fstat` gives its size
 * as 0, once more than that was read). Throws Node-style errors (`code` ENOENT, ELOOP, ...).
 */
export const readFileOnce = (fs: TreeFs, path: string, options: { readonly follow?: boolean; readonly maxBytes?: number } = {}): OnceRead => {
  const { follow = false, maxBytes } = options
  const fd = follow ? fs.openNonBlockingSync(path) : fs.openNoFollowSync(path)
  let read: OnceRead
  try {
    const stat = fs.fstatSync(fd)
    if (!stat.isFile()) {
      read = { _tag: "NotRegular", isDirectory: stat.isDirectory() }
    } else {
      if (maxBytes !== undefined && stat.size > maxBytes) throw tooLarge(path, maxBytes)
      // as `readFileSync` reads: up to the size `fstat` gave (less if it shrank meanwhile), or to the end when that
      // is 0. Inline, not a function of its own: fault injection names a call site by its two innermost functions
      let bytes: Buffer
      if (stat.size === 0) {
        const chunks: Array<Buffer> = []
        let length = 0
        for (;;) {
          const chunk = Buffer.allocUnsafe(CHUNK_BYTES)
          const got = fs.readSync(fd, chunk, 0, CHUNK_BYTES, null)
          if (got === 0) break
          chunks.push(chunk.subarray(0, got))
          length += got
          if (maxBytes !== undefined && length > maxBytes) throw tooLarge(path, maxBytes)
        }
        bytes = Buffer.concat(chunks)
      } else {
        bytes = Buffer.allocUnsafe(stat.size)
        let length = 0
        while (length < stat.size) {
          const got = fs.readSync(fd, bytes, length, stat.size - length, null)
          if (got === 0) break
          length += got
        }
        if (length < stat.size) bytes = bytes.subarray(0, length)
      }
      read = { _tag: "Regular", file: { bytes, mode: stat.mode & 0o777 } }
    }
  } catch (error) {
    closeQuietly(fs, fd)
    throw error
  }
  fs.closeSync(fd)
  return read
}

export const tooLarge = (path: string, maxBytes: number): Error => new Error(`file is larger than ${maxBytes} bytes: ${path}`)
