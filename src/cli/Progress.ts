/**
 * Progress on stderr (never stdout): on a terminal one line rewritten in place, otherwise one plain line per step,
 * so logs and pipes stay readable.
 */
export interface Progress {
  readonly update: (line: string) => void
  readonly done: () => void
}

export const makeProgress = (stream: NodeJS.WriteStream = process.stderr, prefix = "plugin-ledger"): Progress => {
  let shown = false
  return {
    update: (line) => {
      if (stream.isTTY === true) {
        const width = Math.max(20, (stream.columns ?? 80) - 1)
        stream.write(`\r\x1b[K${`${prefix}: ${line}`.slice(0, width)}`)
        shown = true
      } else {
        stream.write(`${prefix}: ${line}\n`)
      }
    },
    done: () => {
      if (shown) stream.write("\r\x1b[K")
      shown = false
    }
  }
}
