import { closeQuietly } from "./AtomicFile.ts"
import type { TreeFs } from "./TreeFs.ts"

/** Marketplace and manifest files are small; anything bigger is refused rather than read into memory. */
export const maxInputFileBytes = 16 * 1024 * 1024

const fsError = (code: string, message: string): Error => Object.assign(new Error(message), { code })

/** What reading `path`, not a regular file, fails with: EISDIR for a directory (as `read` gives it), else a refusal. */
export const notRegularFile = (path: string, isDirectory: boolean): Error =>
  isDirectory ? fsError("EISDIR", `EISDIR: illegal operation on a directory, read '${path}'`) : new Error(`not a regular file: ${path}`)

/** `readFileSync`'s chunk for a file whose size says nothing (0, as procfs reports) */
const CHUNK_BYTES = 8192

/**
 * Reads a file named by a request or a marketplace, refusing what is not a regular file (a directory,
 * `/dev/zero`, a FIFO) or is too large, so no input can make the process block or exhaust memory.
 * Throws Node-style errors (`code` ENOENT, EISDIR, ...), which `rustIoError` renders as the reference does.
 *
 * Symlinks are followed (a marketplace file may be one). What the `stat` shows not to be a regular file is never
 * opened (opening a device can do things); the rest is read through one descriptor opened without blocking and
 * checked again, so a FIFO swapped in after the `stat` cannot block the process (the read is synchronous) and a
 * file grown past the limit meanwhile is not read whole.
 */
export const readRegularFile = (fs: TreeFs, path: string, maxBytes: number = maxInputFileBytes): Buffer => {
  const stat = fs.statSync(path)
  if (!stat.isFile()) throw notRegularFile(path, stat.isDirectory())
  if (stat.size > maxBytes) throw tooLarge(path, maxBytes)
  const fd = fs.openNonBlockingSync(path)
  let bytes: Buffer
  try {
    const opened = fs.fstatSync(fd)
    if (!opened.isFile()) throw notRegularFile(path, opened.isDirectory())
    if (opened.size > maxBytes) throw tooLarge(path, maxBytes)
    // up to the size `fstat` gave (less if it shrank meanwhile), or, when that is 0, to the end but no further than
    // the limit. Inline, not a function of its own: fault injection names a call site by its two innermost functions
    if (opened.size === 0) {
      const chunks: Array<Buffer> = []
      let length = 0
      for (;;) {
        const chunk = Buffer.allocUnsafe(CHUNK_BYTES)
        const got = fs.readSync(fd, chunk, 0, CHUNK_BYTES, null)
        if (got === 0) break
        chunks.push(chunk.subarray(0, got))
        length += got
        if (length > maxBytes) throw tooLarge(path, maxBytes)
      }
      bytes = Buffer.concat(chunks)
    } else {
      bytes = Buffer.allocUnsafe(opened.size)
      let length = 0
      while (length < opened.size) {
        const got = fs.readSync(fd, bytes, length, opened.size - length, null)
        if (got === 0) break
        length += got
      }
      if (length < opened.size) bytes = bytes.subarray(0, length)
    }
  } catch (error) {
    closeQuietly(fs, fd)
    throw error
  }
  fs.closeSync(fd)
  return bytes
}

const tooLarge = (path: string, maxBytes: number): Error => new Error(`file is larger than ${maxBytes} bytes: ${path}`)
