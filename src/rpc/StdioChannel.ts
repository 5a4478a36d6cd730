import { Cause, Effect, Queue, Stream } from "effect"
import type { Readable, Writable } from "node:stream"
import { StringDecoder } from "node:string_decoder"
import type { LineChannel } from "./JsonRpcPeer.ts"

/**
 * Lines as the reference reads them (`BufRead::lines`): split at `\n` only, one trailing `\r` dropped, a last
 * unterminated line kept. A lone `\r` is JSON whitespace inside a frame, not a line break (readline splits there).
 * UTF-8 is decoded across chunk boundaries; invalid bytes become U+FFFD.
 */
export const makeLineFramer = () => {
  const decoder = new StringDecoder("utf8")
  const strip = (line: string) => (line.endsWith("\r") ? line.slice(0, -1) : line)
  let pending = ""
  return {
    /** the lines `chunk` completes */
    push: (chunk: Buffer | string): Array<string> => {
      const text = typeof chunk === "string" ? chunk : decoder.write(chunk)
      const lines: Array<string> = []
      let start = 0
      for (let newline = text.indexOf("\n"); newline >= 0; newline = text.indexOf("\n", start)) {
        lines.push(strip(pending + text.slice(start, newline)))
        pending = ""
        start = newline + 1
      }
      pending += text.slice(start)
      return lines
    },
    /** the last, unterminated line, if any */
    end: (): Array<string> => {
      const last = pending + decoder.end()
      pending = ""
      return last === "" ? [] : [strip(last)]
    }
  }
}

/** lines read but not yet handled above which reading pauses (a client that floods is held back, not buffered) */
const PAUSE_AT_LINES = 256
const RESUME_AT_LINES = 64

/**
 * The lines of `head` and then of `input`, pushed to the reader as each chunk arrives. Pushed rather than pulled
 * through async iterators: each of those (the stream's, the framing's, the stream of them) cost a promise and a
 * turn of the microtask queue per chunk, ~0.1 ms of every request's way in. Ends at `input`'s end.
 */
export const readableLines = (head: Buffer, input: Readable | undefined): Stream.Stream<string, Error> => {
  let waiting = 0
  let paused = false
  const lines = Stream.callback<string, Error>((queue) =>
    Effect.acquireRelease(
      Effect.sync(() => {
        const framer = makeLineFramer()
        const deliver = (next: ReadonlyArray<string>) => {
          if (next.length === 0) return
          waiting += next.length
          Queue.offerAllUnsafe(queue, next)
          // the waiting reader takes them now, not on the scheduler's next turn of the event loop
          Queue.flushUnsafe(queue)
          if (input !== undefined && !paused && waiting >= PAUSE_AT_LINES) {
            paused = true
            input.pause()
          }
        }
        const end = () => {
          deliver(framer.end())
          Queue.endUnsafe(queue)
          Queue.flushUnsafe(queue)
        }
        deliver(framer.push(head))
        if (input === undefined) {
          end()
          return undefined
        }
        const onData = (chunk: Buffer | string) => deliver(framer.push(chunk))
        const onError = (error: Error) => {
          Queue.failCauseUnsafe(queue, Cause.fail(error))
          Queue.flushUnsafe(queue)
        }
        // what happened before this reader came is not emitted again
        if (input.errored !== null) {
          onError(input.errored)
          return undefined
        }
        if (input.readableEnded || input.destroyed) {
          end()
          return undefined
        }
        input.on("data", onData)
        input.once("end", end)
        input.once("error", onError)
        // a stream paused by whoever read its first bytes (EarlyInitialize) flows again
        input.resume()
        return { input, onData, onError, end }
      }),
      (listening) =>
        Effect.sync(() => {
          if (listening === undefined) return
          listening.input.off("data", listening.onData)
          listening.input.off("end", listening.end)
          listening.input.off("error", listening.onError)
        })
    )
  )
  if (input === undefined) return lines
  // counted off as the reader takes them (a batch at a time: a tap per line was three runtime steps more each)
  return Stream.mapArray(lines, (taken) => {
    waiting -= taken.length
    if (paused && waiting <= RESUME_AT_LINES) {
      paused = false
      input.resume()
    }
    return taken
  })
}

/** A line channel over a readable/writable pair (stdin/stdout, or a socket); `head`: bytes read from it already. */
export const streamChannel = (input: Readable | undefined, output: Writable, head: Buffer = Buffer.alloc(0)): LineChannel => ({
  lines: readableLines(head, input),
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
