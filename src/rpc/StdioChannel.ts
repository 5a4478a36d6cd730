import { Effect, Stream } from "effect"
import type { Writable } from "node:stream"
import { StringDecoder } from "node:string_decoder"
import type { LineChannel } from "./JsonRpcPeer.ts"

/**
 * Lines as the reference reads them (`BufRead::lines`): split at `\n` only, one trailing `\r` dropped, a last
 * unterminated line kept. A lone `\r` is JSON whitespace inside a frame, not a line break (readline splits there).
 */
export async function* readLines(input: AsyncIterable<unknown>): AsyncGenerator<string> {
  const decoder = new StringDecoder("utf8")
  const strip = (line: string) => (line.endsWith("\r") ? line.slice(0, -1) : line)
  let pending = ""
  for await (const chunk of input) {
    const text = typeof chunk === "string" ? chunk : Buffer.isBuffer(chunk) ? decoder.write(chunk) : String(chunk)
    let start = 0
    for (let newline = text.indexOf("\n"); newline >= 0; newline = text.indexOf("\n", start)) {
      const line = pending + text.slice(start, newline)
      pending = ""
      start = newline + 1
      yield strip(line)
    }
    pending += text.slice(start)
  }
  pending += decoder.end()
  if (pending !== "") yield strip(pending)
}

/** A line channel over a readable/writable pair (stdin/stdout, or a socket). */
export const streamChannel = (input: AsyncIterable<unknown>, output: Writable): LineChannel => ({
  lines: Stream.fromAsyncIterable(
    readLines(input),
    (cause) => (cause instanceof Error ? cause : new Error(String(cause)))
  ),
  write: (line) =>
    Effect.callback<void>((resume) => {
      // the terminator goes in the same batch but not joined to the line: `${line}\n` is a rope the stream would
      // copy flat first, a second copy of every frame (a listing is hundreds of kB)
      output.cork()
      output.write(line)
      // wait for the kernel to take the bytes, so nothing is lost when the process exits after EOF
      output.write("\n", () => resume(Effect.void))
      output.uncork()
    })
})

export const stdioChannel = (): LineChannel => streamChannel(process.stdin, process.stdout)
