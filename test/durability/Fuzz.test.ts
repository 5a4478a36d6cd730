/**
 * R10, the wire: fast-check over request frames (see test/support/FuzzFrames.ts), in-process against the real
 * session (`makeCodexSession` + `servePeer` over the stdio line channel, a real temp CODEX_HOME), then a smaller
 * run against a real `plugin-ledger serve` child. Every frame is answered exactly once as the protocol says (or
 * not at all for notifications and responses), no defect is logged or answered, the server keeps answering
 * `plugin/list`, and every event in the log decodes as a PluginEvent and the chain verifies.
 */
import * as NodeFs from "node:fs"
import * as Path from "node:path"
import { Readable, Writable } from "node:stream"
import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import { Effect, Logger, ManagedRuntime } from "effect"
import { parse as parseToml } from "smol-toml"
import { appLayer } from "../../src/cli/AppLayer.ts"
import { makeCodexSession } from "../../src/rpc/CodexServer.ts"
import { servePeer } from "../../src/rpc/JsonRpcPeer.ts"
import { streamChannel } from "../../src/rpc/StdioChannel.ts"
import { EventLog } from "../../src/services/EventLog.ts"
import { checkProperty, type Expected, expectedReply, type Frame, frameArbitrary, outcomeOf, replyProblems } from "../support/FuzzFrames.ts"
import { invalidEvents, makeFuzzWorld, removeWorld } from "../support/FuzzWorld.ts"
import { ServeChild } from "../support/ServeChild.ts"
import { scaled, seedFor } from "../support/Soak.ts"

const FRAMES_PER_BATCH = 5
const readLog = (ledgerDir: string) =>
  EventLog.use((log) => Effect.all({ records: log.records, report: log.verify })).pipe(Effect.provide(EventLog.layer({ ledgerDir })))

interface Tally {
  frames: number
  replies: number
  silent: number
  notifications: number
  readonly outcomes: Map<string, number>
}

const newTally = (): Tally => ({ frames: 0, replies: 0, silent: 0, notifications: 0, outcomes: new Map() })

/** A line the server sent on its own (`plugin/changed`, `marketplace/changed`): a method and no id. */
const isServerNotification = (line: string): boolean => {
  const parsed: unknown = JSON.parse(line)
  return typeof parsed === "object" && parsed !== null && "method" in parsed && !("id" in parsed)
}

/** Matches the reply lines (in order) to the frames, then the sentinel's answer; throws on the first problem. */
const checkReplies = (frames: ReadonlyArray<Frame>, lines: ReadonlyArray<string>, sentinelId: string, tally: Tally): void => {
  let next = 0
  for (const frame of frames) {
    const expected: Expected = expectedReply(frame)
    const label = frame.bytes.subarray(0, 300).toString("utf8")
    tally.frames++
    if (expected.count === 0) {
      tally.silent++
      continue
    }
    const line = lines[next++]
    if (line === undefined) return assert.fail(`no reply to ${label}`)
    const problems = replyProblems(line, expected)
    assert.deepStrictEqual(problems, [], `frame ${label}\nreply ${line.slice(0, 300)}`)
    tally.replies++
    const outcome = outcomeOf(line)
    tally.outcomes.set(outcome, (tally.outcomes.get(outcome) ?? 0) + 1)
  }
  const sentinel = lines[next++]
  assert.match(sentinel ?? "", new RegExp(`^\\{"id":"${sentinelId}","result":\\{"marketplaces":\\[`), "the sentinel plugin/list")
  assert.strictEqual(lines.length, next, `extra output: ${JSON.stringify(lines.slice(next)).slice(0, 300)}`)
}

/** Cuts `bytes` at the given points (so lines, and UTF-8 sequences, arrive split across chunks). */
const chunked = (bytes: Buffer, cuts: ReadonlyArray<number>): Array<Buffer> => {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)
  const chunks: Array<Buffer> = []
  let from = 0
  for (const point of points) {
    if (point > from) chunks.push(bytes.subarray(from, point))
    from = Math.max(from, point)
  }
  chunks.push(bytes.subarray(from))
  return chunks
}

describe("R10: fuzzing the wire", () => {
  it("in-process: random frames against the real session; each answered as the protocol says; log stays valid", async () => {
    const seed = seedFor("fuzz-frames")
    // soak: 1,000,000 frames, ~14.5 min on the 2-vCPU VM (extrapolated: 500,000 took 435 s)
    const total = scaled(10_000, 1_000_000)
    const world = makeFuzzWorld("fuzz-frames-")
    // `ledger/replay` without `into` makes a temp dir, the caller's to keep: inside the world, it goes with it
    const tmpdir = process.env["TMPDIR"]
    process.env["TMPDIR"] = Path.join(world.root, "tmp")
    NodeFs.mkdirSync(process.env["TMPDIR"], { recursive: true })
    const runtime = ManagedRuntime.make(appLayer(world.paths))
    const errors: Array<string> = []
    // anything logged at Error or Fatal (a defect in a request is logged by the peer) fails the suite
    const capture = Logger.layer([
      Logger.make((options) => {
        if (options.logLevel === "Error" || options.logLevel === "Fatal") errors.push(`${String(options.message)}`)
      })
    ])
    const tally = newTally()
    const started = Date.now()
    let batches = 0
    try {
      const session = await runtime.runPromise(makeCodexSession())
      const serve = async (input: ReadonlyArray<Buffer>): Promise<ReadonlyArray<string>> => {
        let output = ""
        const sink = new Writable({
          write(chunk: Buffer, _encoding, callback) {
            output += chunk.toString("utf8")
            callback()
          }
        })
        await runtime.runPromise(servePeer(streamChannel(Readable.from(input), sink), session).pipe(Effect.provide(capture)))
        return output.split("\n").slice(0, -1)
      }
      const init = await serve([Buffer.from("{\"id\":0,\"method\":\"initialize\",\"params\":{\"clientInfo\":{\"name\":\"fuzz\",\"version\":\"1\"}}}\n")])
      assert.match(init[0] ?? "", /^\{"id":0,"result":\{"userAgent"/)
      await checkProperty(
        fc.asyncProperty(fc.array(frameArbitrary(world), { minLength: FRAMES_PER_BATCH, maxLength: FRAMES_PER_BATCH }), fc.array(fc.nat(), { maxLength: 6 }), async (frames, cuts) => {
          const sentinelId = `sentinel-${batches++}`
          const sentinel = Buffer.from(`{"id":"${sentinelId}","method":"plugin/list","params":{}}`)
          const bytes = Buffer.concat([...frames.flatMap((f) => [f.bytes, Buffer.from("\n")]), sentinel, Buffer.from("\n")])
          checkReplies(frames, await serve(chunked(bytes, cuts)), sentinelId, tally)
        }),
        { seed, numRuns: Math.ceil(total / FRAMES_PER_BATCH), endOnFailure: true }
      )
      assert.deepStrictEqual(errors, [], "errors were logged")
      const { records, report } = await Effect.runPromise(readLog(world.paths.ledgerDir))
      assert.deepStrictEqual(report, { ok: true, records: records.length, problems: [] })
      assert.deepStrictEqual(invalidEvents(records), [])
      parseToml(NodeFs.readFileSync(world.paths.configPath, "utf8")) // still valid TOML
      console.log(
        `[fuzz-frames] seed=${seed} frames=${tally.frames} answered=${tally.replies} silent=${tally.silent} ` +
          `outcomes ${JSON.stringify(Object.fromEntries(tally.outcomes))} events-appended=${records.length - 1} (all valid) ` +
          `defects=0 wall=${Date.now() - started}ms`
      )
      assert.strictEqual(tally.frames, Math.ceil(total / FRAMES_PER_BATCH) * FRAMES_PER_BATCH)
    } finally {
      await runtime.dispose()
      if (tmpdir === undefined) delete process.env["TMPDIR"]
      else process.env["TMPDIR"] = tmpdir
      removeWorld(world)
    }
  }, 1_800_000)

  it("a real `plugin-ledger serve`: random frames never make it exit; it answers each and exits 0 at EOF", async () => {
    const seed = seedFor("fuzz-serve")
    const total = scaled(1_000, 20_000)
    const world = makeFuzzWorld("fuzz-serve-")
    const tally = newTally()
    const started = Date.now()
    try {
      const server = await ServeChild.start({ codexHome: world.paths.codexHome, home: world.paths.home, cwd: world.root })
      const frames = fc.sample(frameArbitrary(world), { seed, numRuns: total })
      let consumed = server.process.lines.length // after the initialize response
      for (let from = 0, batch = 0; from < frames.length; from += 50, batch++) {
        const slice = frames.slice(from, from + 50)
        const sentinelId = `sentinel-${batch}`
        for (const frame of slice) server.sendRaw(frame.bytes)
        server.send({ id: sentinelId, method: "plugin/list", params: {} })
        await server.waitFor(sentinelId, 120_000)
        const received = server.process.lines.slice(consumed)
        consumed = server.process.lines.length
        // the server's own notifications (events it appended) are interleaved with the answers; checked apart
        const notifications = received.filter(isServerNotification)
        for (const line of notifications) assert.match(line, /^\{"method":"(plugin\/changed|marketplace\/changed|plugin\/capabilitiesChanged)","params":\{/, "a notification")
        tally.notifications += notifications.length
        checkReplies(slice, received.filter((line) => !isServerNotification(line)), sentinelId, tally)
      }
      const exit = await server.close()
      assert.deepStrictEqual(exit, { code: 0, signal: null }, server.process.stderr)
      assert.deepStrictEqual(server.nonProtocol, [])
      const records = await Effect.runPromise(readLog(world.paths.ledgerDir))
      assert.isTrue(records.report.ok, records.report.problems.join("; "))
      assert.deepStrictEqual(invalidEvents(records.records), [])
      console.log(
        `[fuzz-serve] seed=${seed} frames=${tally.frames} answered=${tally.replies} silent=${tally.silent} notifications=${tally.notifications} ` +
          `outcomes ${JSON.stringify(Object.fromEntries(tally.outcomes))} events=${records.records.length - 1} exit=0 ` +
          `wall=${Date.now() - started}ms`
      )
    } finally {
      removeWorld(world)
    }
  }, 1_800_000)
})
