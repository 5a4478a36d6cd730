/**
 * Splits a byte stream into newline-terminated lines with a cap: a line longer than `maxBytes` is not buffered past
 * the cap; it is reported as oversize with its first bytes (enough to find its id) once its end arrives.
 */
export type SplitItem =
  | { readonly _tag: "Line"; readonly text: string }
  | { readonly _tag: "Oversize"; readonly bytes: number; readonly head: string }

const HEAD_BYTES = 512

export const makeLineSplitter = (maxBytes: number) => {
  let parts: Array<Buffer> = []
  let size = 0
  /** set while discarding a line that went over the cap */
  let oversize: { bytes: number; head: string } | undefined

  const push = (chunk: Buffer, out: Array<SplitItem>): void => {
    let start = 0
    while (start < chunk.length) {
      const nl = chunk.indexOf(10, start)
      const end = nl < 0 ? chunk.length : nl
      const piece = chunk.subarray(start, end)
      if (oversize !== undefined) oversize.bytes += piece.length
      else if (size + piece.length > maxBytes) {
        const head = Buffer.concat([...parts, piece]).subarray(0, HEAD_BYTES).toString("utf8")
        oversize = { bytes: size + piece.length, head }
        parts = []
        size = 0
      } else if (piece.length > 0) {
        parts.push(Buffer.from(piece))
        size += piece.length
      }
      if (nl < 0) return
      if (oversize !== undefined) out.push({ _tag: "Oversize", ...oversize })
      else {
        const text = Buffer.concat(parts).toString("utf8").replace(/\r$/, "")
        if (text.trim() !== "") out.push({ _tag: "Line", text })
      }
      parts = []
      size = 0
      oversize = undefined
      start = nl + 1
    }
  }

  return {
    /** the complete lines in `chunk` (with what came before it) */
    push: (chunk: Buffer): ReadonlyArray<SplitItem> => {
      const out: Array<SplitItem> = []
      push(chunk, out)
      return out
    }
  }
}
