import { Effect, Stream } from "effect"
import * as Readline from "node:readline"
import type { Readable, Writable } from "node:stream"
import type { LineChannel } from "./JsonRpcPeer.ts"

/** A line channel over a readable/writable pair (stdin/stdout, or a socket). */
export const streamChannel = (input: Readable, output: Writable): LineChannel => ({
  lines: Stream.fromAsyncIterable(
    Readline.createInterface({ input, crlfDelay: Infinity, terminal: false }),
    (cause) => (cause instanceof Error ? cause : new Error(String(cause)))
  ),
  write: (line) =>
    Effect.callback<void>((resume) => {
      // wait for the kernel to take the bytes, so nothing is lost when the process exits after EOF
      output.write(`${line}\n`, () => resume(Effect.void))
    })
})

export const stdioChannel = (): LineChannel => streamChannel(process.stdin, process.stdout)
