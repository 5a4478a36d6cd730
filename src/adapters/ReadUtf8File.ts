import * as NodeFs from "node:fs"
import { maxInputFileBytes } from "./ReadRegularFile.ts"

const STRICT_UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })
const { O_NOFOLLOW, O_NONBLOCK, O_RDONLY } = NodeFs.constants
const SCRATCH_BYTES = 256 * 1024
const scratch = Buffer.allocUnsafe(SCRATCH_BYTES)

const tooLarge = (path: string): Error =>
  Object.assign(new Error(`file is larger than ${maxInputFileBytes} bytes: ${path}`), { code: "EFBIG" })

/**
 * Reads a whole file as Rust `read_to_string` does: strict UTF-8, a BOM kept (serde then rejects it). Returns
 * undefined for invalid UTF-8 and throws Node-style errors (`code`: ENOENT, EISDIR, ...). The file is opened
 * non-blocking, so a FIFO put in its place fails (EAGAIN) instead of blocking the process, and anything larger than
 * `maxInputFileBytes` is refused (EFBIG). With `noFollow`, a symlink as the last component fails (ELOOP).
 */
export const readUtf8File = (path: string, options: { readonly noFollow: boolean }): string | undefined => {
  const fd = NodeFs.openSync(path, O_RDONLY | O_NONBLOCK | (options.noFollow ? O_NOFOLLOW : 0))
  try {
    let buffer = scratch
    let length = 0
    for (;;) {
      if (length === buffer.length) {
        if (length > maxInputFileBytes) throw tooLarge(path)
        const grown = Buffer.allocUnsafe(buffer.length * 2)
        buffer.copy(grown, 0, 0, length)
        buffer = grown
      }
      const read = NodeFs.readSync(fd, buffer, length, buffer.length - length, null)
      if (read === 0) break
      length += read
    }
    if (length > maxInputFileBytes) throw tooLarge(path)
    try {
      return STRICT_UTF8.decode(buffer.subarray(0, length))
    } catch {
      return undefined
    }
  } finally {
    NodeFs.closeSync(fd)
  }
}
