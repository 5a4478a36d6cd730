/**
 * A writer process for the crash and contention suites: `node streamWriter.ts`.
 * It loads everything, prints `WARM`, then waits for one stdin line
 * `GO {"dir","writer","count","seed","batchMax","pauseMs","batchMin"?,"padBytes"?}`
 * (so a parent can start it ahead of time and kill it right after GO without paying for module loading).
 * Then it opens the log in `dir` (EventLog.layer), prints `OPEN`, and loops: picks a command of batchMin..batchMax
 * records on random streams, prints `TRY <command json>`, runs it through `EventLog.transact`, and only after
 * transact returned (appended and fdatasynced) prints `ACK <id> <seq>` per record. After `count` ids: `DONE`.
 * Lines are written with a blocking write(2), so a line written before a SIGKILL reaches the parent.
 */
import * as NodeFs from "node:fs"
import { Effect, Schema } from "effect"
import { EventLog, type NewRecord } from "../../../src/services/EventLog.ts"
import { makeRandom } from "../../support/Soak.ts"
import { type StreamCommand, streamRecords, STREAMS } from "../../support/StreamAppends.ts"

const Go = Schema.fromJsonString(Schema.Struct({
  dir: Schema.String,
  writer: Schema.String,
  count: Schema.NullOr(Schema.Int),
  seed: Schema.Int,
  batchMax: Schema.Int,
  /** think time between commands: 0..pauseMs ms (0: append flat out) */
  pauseMs: Schema.Int,
  /** the fewest records in a command (default 1) */
  batchMin: Schema.optionalKey(Schema.Int),
  /** characters of padding in every record's data (default none): a command of large records takes a long write */
  padBytes: Schema.optionalKey(Schema.Int)
}))

/**
 * A blocking write(2) to fd 1: `process.stdout.write` to a pipe may still be queued inside Node when the SIGKILL
 * lands (seen here: a record durable whose TRY line never arrived), so it would not prove the order of events.
 */
const out = (line: string): void => {
  const bytes = Buffer.from(`${line}\n`, "utf8")
  let done = 0
  while (done < bytes.length) {
    try {
      done += NodeFs.writeSync(1, bytes, done, bytes.length - done)
    } catch (error) {
      // the pipe is non-blocking and full: the parent is reading, try again
      if (!(error instanceof Error && "code" in error && error.code === "EAGAIN")) throw error
    }
  }
}

const readGo = (): Promise<string> =>
  new Promise((resolve, reject) => {
    let buffer = ""
    process.stdin.setEncoding("utf8")
    process.stdin.on("data", (chunk: string) => {
      buffer += chunk
      const newline = buffer.indexOf("\n")
      if (newline >= 0 && buffer.startsWith("GO ")) {
        process.stdin.pause()
        resolve(buffer.slice(3, newline))
      }
    })
    process.stdin.on("end", () => reject(new Error("stdin ended before GO")))
  })

out("WARM")
const go = Schema.decodeUnknownSync(Go)(await readGo())

const padding = "p".repeat(go.padBytes ?? 0)
const padded = (records: ReadonlyArray<NewRecord>): ReadonlyArray<NewRecord> =>
  padding === "" ? records : records.map((record) => ({ ...record, data: { ...asObject(record.data), padding } }))
const asObject = (data: unknown): object => (typeof data === "object" && data !== null ? data : {})

const program = Effect.gen(function*() {
  const log = yield* EventLog
  out("OPEN")
  const random = makeRandom(go.seed)
  let n = 0
  while (go.count === null || n < go.count) {
    const batchMin = go.batchMin ?? 1
    const size = Math.min(batchMin + random.int(go.batchMax - batchMin + 1), go.count === null ? Number.POSITIVE_INFINITY : go.count - n)
    const command: StreamCommand = {
      writer: go.writer,
      items: Array.from({ length: size }, (_, i) => ({ id: `${go.writer}-${n + i}`, stream: random.pick(STREAMS), n: n + i }))
    }
    out(`TRY ${JSON.stringify(command)}`)
    const { appended } = yield* log.transact((records) =>
      Effect.sync(() => ({ append: padded(streamRecords(command, records, new Date().toISOString())), value: undefined }))
    )
    for (const record of appended) out(`ACK ${record.id} ${record.seq}`)
    n += size
    if (go.pauseMs > 0) yield* Effect.sleep(random.int(go.pauseMs + 1))
  }
  out("DONE")
})

Effect.runPromise(program.pipe(Effect.provide(EventLog.layer({ ledgerDir: go.dir, lockTimeoutMs: 30_000 })))).then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`streamWriter failed: ${String(error)}\n`)
    process.exit(1)
  }
)
