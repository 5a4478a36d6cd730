/**
 * The line-framed JSON-RPC peer: frame classification, response encoding (the reference's key order,
 * `jsonrpc` echoed only when sent), line splitting, and the serve loop over an in-memory channel.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Logger, Stream } from "effect"
import fc from "fast-check"
import { PassThrough } from "node:stream"
import {
  classify,
  ErrorCode,
  type IncomingRequest,
  type LineChannel,
  type PeerHandlers,
  RpcError,
  servePeer
} from "../../src/rpc/JsonRpcPeer.ts"
import { encodeError, encodeResult } from "../../src/rpc/ResponseLine.ts"
import { EarlyAnswer } from "../../src/services/EarlyAnswer.ts"
import { readableLines, streamChannel } from "../../src/rpc/StdioChannel.ts"

const reply = (line: string): string => {
  const frame = classify(line)
  if (frame._tag !== "Reply") return assert.fail(`expected a reply, got ${frame._tag}`)
  return frame.line
}

const request = (line: string) => {
  const frame = classify(line)
  if (frame._tag !== "Request") return assert.fail(`expected a request, got ${frame._tag}`)
  return frame
}

/** A field of parsed JSON, `undefined` where the path does not exist. */
const at = (line: string, ...path: ReadonlyArray<string>): unknown => {
  let value: unknown = JSON.parse(line)
  for (const key of path) value = typeof value === "object" && value !== null ? Reflect.get(value, key) : undefined
  return value
}
const keysOf = (line: string): ReadonlyArray<string> => Object.keys(Object(at(line)))

const invalid = (message: string, id: string | number | null = null, jsonrpc = false) =>
  JSON.stringify({ ...(jsonrpc ? { jsonrpc: "2.0" } : {}), error: { code: -32600, message }, id })

describe("encodeResult / encodeError", () => {
  it("results are {id, result}; with jsonrpc {jsonrpc, id, result}", () => {
    assert.strictEqual(encodeResult(1, { a: 1 }, false), "{\"id\":1,\"result\":{\"a\":1}}")
    assert.strictEqual(encodeResult("x", null, false), "{\"id\":\"x\",\"result\":null}")
    assert.strictEqual(encodeResult(1, {}, true), "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}")
  })

  it("results are the same bytes as `{id, result}` joined by hand (random ids and JSON results)", () => {
    const id = fc.oneof(fc.string(), fc.integer(), fc.maxSafeInteger())
    fc.assert(fc.property(id, fc.jsonValue(), fc.boolean(), (requestId, result, jsonrpc) => {
      const joined = `${jsonrpc ? "{\"jsonrpc\":\"2.0\"," : "{"}"id":${JSON.stringify(requestId)},"result":${JSON.stringify(result)}}`
      assert.strictEqual(encodeResult(requestId, result, jsonrpc), joined)
    }), { numRuns: 500 })
  })

  it("errors are {error: {code, message, data?}, id}; with jsonrpc {jsonrpc, error, id}", () => {
    const error = new RpcError({ code: ErrorCode.invalidRequest, message: "bad" })
    assert.strictEqual(encodeError(7, error, false), "{\"error\":{\"code\":-32600,\"message\":\"bad\"},\"id\":7}")
    assert.strictEqual(encodeError(null, error, false), "{\"error\":{\"code\":-32600,\"message\":\"bad\"},\"id\":null}")
    assert.strictEqual(encodeError("s", error, true), "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32600,\"message\":\"bad\"},\"id\":\"s\"}")
    const withData = new RpcError({ code: ErrorCode.internalError, message: "m", data: { why: [1] } })
    assert.strictEqual(encodeError(1, withData, false), "{\"error\":{\"code\":-32603,\"message\":\"m\",\"data\":{\"why\":[1]}},\"id\":1}")
  })

  it("messages with quotes, newlines and non-ASCII stay one valid JSON line", () => {
    const line = encodeError(1, new RpcError({ code: -32600, message: "a\"b\nc\u2028\ud800" }), false)
    assert.notInclude(line, "\n")
    assert.strictEqual(at(line, "error", "message"), "a\"b\nc\u2028\ud800")
  })
})

describe("classify", () => {
  it("blank lines are ignored", () => {
    assert.strictEqual(classify("")._tag, "Ignore")
    assert.strictEqual(classify("   \t ")._tag, "Ignore")
  })

  it("malformed JSON: -32700 `Parse error: …` with id null", () => {
    for (const line of ["garbage", "{\"id\":1,\"method\":\"plugin/li", "{", "{\"id\":1,}", "nul", "[1,2"]) {
      const parsed = reply(line)
      assert.deepStrictEqual(keysOf(parsed), ["error", "id"])
      assert.strictEqual(at(parsed, "id"), null)
      assert.strictEqual(at(parsed, "error", "code"), -32700)
      assert.match(String(at(parsed, "error", "message")), /^Parse error: /)
    }
  })

  it("a huge malformed line gets a short parse error", () => {
    const line = reply("x".repeat(5_000_000))
    assert.isBelow(line.length, 500)
  })

  it("non-object frames: -32600 with id null", () => {
    for (const line of ["[]", "[1,2]", "\"x\"", "5", "null", "true", `${"[".repeat(10_000)}${"]".repeat(10_000)}`]) {
      assert.strictEqual(reply(line), invalid("Invalid request: expected a JSON object"))
    }
  })

  it("missing method: -32600 echoing a valid id", () => {
    assert.strictEqual(reply("{}"), invalid("Invalid request: missing field `method`"))
    assert.strictEqual(reply("{\"id\":24}"), invalid("Invalid request: missing field `method`", 24))
    assert.strictEqual(reply("{\"id\":1.5}"), invalid("Invalid request: missing field `method`"))
    assert.strictEqual(
      reply("{\"jsonrpc\":\"2.0\",\"id\":\"a\"}"),
      invalid("Invalid request: missing field `method`", "a", true)
    )
  })

  it("responses from the client (id plus result or error) are ignored", () => {
    assert.strictEqual(classify("{\"id\":1,\"result\":{}}")._tag, "Ignore")
    assert.strictEqual(classify("{\"id\":\"x\",\"error\":{\"code\":1,\"message\":\"m\"}}")._tag, "Ignore")
  })

  it("integer ids beyond 2^53 are echoed with their exact digits, up to i64", () => {
    for (const id of ["9223372036854775807", "-9223372036854775808", "9007199254740993", "-9007199254740993"]) {
      const frame = request(`{"id":${id},"method":"plugin/list","params":{"id":1}}`)
      assert.strictEqual(frame.request.id, BigInt(id))
      assert.strictEqual(encodeResult(frame.request.id, null, false), `{"id":${id},"result":null}`)
      assert.strictEqual(reply(`{"id":${id},"method":5}`), `{"error":{"code":-32600,"message":"Invalid request: method must be a string"},"id":${id}}`)
    }
    assert.strictEqual(encodeError(2n ** 60n, new RpcError({ code: -32600, message: "m" }), true), "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32600,\"message\":\"m\"},\"id\":1152921504606846976}")
    // the id's digits are found whatever surrounds it: params nested 100,000 deep, keys or strings that spell id
    const deep = `${"[".repeat(100_000)}${"]".repeat(100_000)}`
    assert.strictEqual(request(`{"params":${deep},"method":"m","id" : 9007199254740993}`).request.id, 9007199254740993n)
    assert.strictEqual(request(`{"s":"\\"id\\":5","params":{"id":7},"\\u0069d":-9007199254740993,"method":"m"}`).request.id, -9007199254740993n)
  })

  it("bad ids: floats, objects, arrays, booleans and integers outside i64 get -32600 with id null", () => {
    for (const id of ["1.5", "{}", "[1]", "true", "9223372036854775808", "-9223372036854775809", "1e300", "1e20", "9007199254740993.0"]) {
      assert.strictEqual(
        reply(`{"id":${id},"method":"plugin/list","params":{}}`),
        invalid("Invalid request: request id must be a string or an integer")
      )
    }
  })

  it("a null id makes a notification (as serde reads it)", () => {
    const frame = classify("{\"id\":null,\"method\":\"plugin/list\",\"params\":{}}")
    assert.strictEqual(frame._tag, "Notification")
  })

  it("non-string methods: -32600 echoing the id", () => {
    assert.strictEqual(reply("{\"id\":23,\"method\":5}"), invalid("Invalid request: method must be a string", 23))
    assert.strictEqual(reply("{\"method\":null}"), invalid("Invalid request: method must be a string"))
    assert.strictEqual(
      reply("{\"jsonrpc\":\"2.0\",\"id\":\"k\",\"method\":[\"x\"]}"),
      invalid("Invalid request: method must be a string", "k", true)
    )
  })

  it("requests keep id, method and params (undefined when absent); jsonrpc only when \"2.0\"", () => {
    const plain = request("{\"id\":1,\"method\":\"plugin/list\",\"params\":{\"a\":1}}")
    assert.deepStrictEqual(plain.request, { id: 1, method: "plugin/list", params: { a: 1 } })
    assert.isFalse(plain.jsonrpc)
    const noParams = request("{\"id\":\"s\",\"method\":\"m\"}")
    assert.isTrue(noParams.request.params === undefined)
    assert.strictEqual(noParams.request.id, "s")
    assert.isTrue(request("{\"jsonrpc\":\"2.0\",\"id\":-7,\"method\":\"m\",\"params\":null}").jsonrpc)
    assert.isFalse(request("{\"jsonrpc\":\"1.0\",\"id\":0,\"method\":\"m\"}").jsonrpc)
    assert.strictEqual(request("{\"id\":0,\"method\":\"m\"}").request.id, 0)
  })

  it("notifications have a method and no id", () => {
    const frame = classify("{\"method\":\"initialized\"}")
    if (frame._tag !== "Notification") return assert.fail(frame._tag)
    assert.deepStrictEqual(frame.notification, { method: "initialized", params: undefined })
  })

  it("deeply nested params are classified without recursion limits", () => {
    const deep = `${"{\"a\":".repeat(10_000)}1${"}".repeat(10_000)}`
    assert.strictEqual(request(`{"id":1,"method":"m","params":${deep}}`).request.id, 1)
  })
})

/** the lines `readableLines` gives for `chunks` written one by one to a stream that then ends */
const collect = (chunks: ReadonlyArray<string | Buffer>, head = Buffer.alloc(0)): Promise<ReadonlyArray<string>> => {
  const input = new PassThrough()
  const lines = Effect.runPromise(Stream.runCollect(readableLines(head, input)))
  for (const chunk of chunks) input.write(chunk)
  input.end()
  return lines
}

describe("streamChannel writes", () => {
  it.effect("each line once, terminated, in the order written, also when the stream buffers", () =>
    Effect.gen(function*() {
      const output = new PassThrough({ highWaterMark: 16 })
      const channel = streamChannel(new PassThrough(), output)
      const big = "x".repeat(100_000)
      const chunks: Array<string> = []
      output.setEncoding("utf8").on("data", (chunk: string) => void chunks.push(chunk))
      yield* Effect.all([channel.write("a"), channel.write(big), channel.write("{\"é\":1}")], { concurrency: "unbounded" })
      assert.strictEqual(chunks.join(""), `a\n${big}\n{"é":1}\n`)
    }))
})

describe("readableLines (StdioChannel framing)", () => {
  it("splits at \\n only and drops one trailing \\r, as BufRead::lines does", async () => {
    assert.deepStrictEqual(await collect(["a\nb\r\nc\r\rd\n"]), ["a", "b", "c\r\rd"])
    assert.deepStrictEqual(await collect(["{\"id\":1,\r\"method\":\"m\"}\n"]), ["{\"id\":1,\r\"method\":\"m\"}"])
  })

  it("keeps a last unterminated line and blank lines", async () => {
    assert.deepStrictEqual(await collect(["a\n\nb"]), ["a", "", "b"])
    assert.deepStrictEqual(await collect([]), [])
    assert.deepStrictEqual(await collect(["\n"]), [""])
  })

  it("joins lines split across chunks, including a multi-byte character split in two", async () => {
    const bytes = Buffer.from("é😀\n", "utf8")
    assert.deepStrictEqual(await collect([Buffer.from("ab"), Buffer.from("c\nd"), bytes.subarray(0, 1), bytes.subarray(1, 3), bytes.subarray(3)]), [
      "abc",
      "dé😀"
    ])
  })

  it("invalid UTF-8 becomes U+FFFD", async () => {
    assert.deepStrictEqual(await collect([Buffer.from([0x61, 0xff, 0x0a])]), ["a\ufffd"])
  })

  it("reads the bytes read before it (head) first, also without a stream", async () => {
    assert.deepStrictEqual(await collect(["b\nc"], Buffer.from("x\na")), ["x", "ab", "c"])
    assert.deepStrictEqual(await Effect.runPromise(Stream.runCollect(readableLines(Buffer.from("x\ny"), undefined))), ["x", "y"])
  })

  it("a stream's error fails the lines, also when it came before the reader", async () => {
    const failure = (input: PassThrough) => Effect.runPromise(Effect.flip(Stream.runCollect(readableLines(Buffer.alloc(0), input))))
    const input = new PassThrough()
    const failed = failure(input)
    input.write("a\n")
    input.destroy(new Error("broken pipe"))
    assert.strictEqual((await failed).message, "broken pipe")
    const errored = new PassThrough()
    errored.on("error", () => {})
    errored.destroy(new Error("gone"))
    await new Promise((resolve) => setImmediate(resolve))
    assert.strictEqual((await failure(errored)).message, "gone")
  })

  it("pauses the stream while many lines wait for a busy reader, and resumes it once they are taken", async () => {
    const input = new PassThrough()
    const numbered = (from: number, count: number) => Array.from({ length: count }, (_, i) => `${from + i}\n`).join("")
    const received: Array<string> = []
    const lines = Effect.runPromise(readableLines(Buffer.alloc(0), input).pipe(
      Stream.runForEach((line) => Effect.sync(() => void received.push(line)).pipe(Effect.andThen(Effect.sleep("1 millis"))))
    ))
    const turn = () => new Promise((resolve) => setImmediate(resolve))
    // the reader takes the first 100 at once and works through them; the next 300 wait for it
    input.write(numbered(0, 100))
    await turn()
    assert.isFalse(input.isPaused())
    input.write(numbered(100, 300))
    await turn()
    assert.isTrue(input.isPaused())
    input.end()
    await lines
    assert.deepStrictEqual(received, Array.from({ length: 400 }, (_, i) => String(i)))
    assert.isFalse(input.isPaused())
  })

  it("a 5 MB line in 64 KiB chunks", async () => {
    const line = "x".repeat(5_000_000)
    const chunks: Array<string> = []
    for (let i = 0; i < line.length; i += 65_536) chunks.push(line.slice(i, i + 65_536))
    chunks.push("\nnext\n")
    const lines = await collect(chunks)
    assert.strictEqual(lines.length, 2)
    assert.strictEqual(lines[0]?.length, 5_000_000)
    assert.strictEqual(lines[1], "next")
  })
})

const memoryChannel = (lines: ReadonlyArray<string>) => {
  const written: Array<string> = []
  const channel: LineChannel = {
    lines: Stream.fromIterable(lines),
    write: (line) => Effect.sync(() => void written.push(line))
  }
  return { channel, written }
}

const handlers = (seen: Array<string>): PeerHandlers => ({
  request: (req: IncomingRequest) => {
    seen.push(`request ${req.method}`)
    switch (req.method) {
      case "echo":
        return Effect.succeed({ params: req.params ?? null })
      case "reject":
        return Effect.fail(new RpcError({ code: ErrorCode.invalidRequest, message: "Not initialized" }))
      case "fail":
        return Effect.fail(new RpcError({ code: ErrorCode.invalidRequest, message: "work failed" }))
      case "die":
        return Effect.die(new Error("boom"))
      case "slow":
        return Effect.sleep("20 millis").pipe(Effect.as("slow done"))
      default:
        return Effect.succeed(req.method)
    }
  },
  notification: (n) => Effect.sync(() => void seen.push(`notification ${n.method}`))
})

describe("servePeer", () => {
  it.live("answers every frame in order, each as one line, notifications silently", () =>
    Effect.gen(function*() {
      const { channel, written } = memoryChannel([
        "{\"id\":1,\"method\":\"slow\"}",
        "{\"id\":2,\"method\":\"echo\",\"params\":[1]}",
        "garbage",
        "{\"method\":\"initialized\"}",
        "",
        "{\"jsonrpc\":\"2.0\",\"id\":\"r\",\"method\":\"reject\"}",
        "{\"id\":3,\"method\":\"fail\"}",
        "{\"id\":4,\"result\":{}}",
        "{\"id\":5,\"method\":\"die\"}",
        "{\"id\":6,\"method\":\"after\"}"
      ])
      const seen: Array<string> = []
      yield* servePeer(channel, handlers(seen)).pipe(Effect.provide(Logger.layer([]))) // the defect is logged
      assert.deepStrictEqual(written.slice(0, 2), [
        "{\"id\":1,\"result\":\"slow done\"}",
        "{\"id\":2,\"result\":{\"params\":[1]}}"
      ])
      const parseError = written[2] ?? "{}"
      assert.deepStrictEqual(keysOf(parseError), ["error", "id"])
      assert.strictEqual(at(parseError, "error", "code"), -32700)
      assert.match(String(at(parseError, "error", "message")), /^Parse error: /)
      assert.deepStrictEqual(written.slice(3), [
        "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32600,\"message\":\"Not initialized\"},\"id\":\"r\"}",
        "{\"error\":{\"code\":-32600,\"message\":\"work failed\"},\"id\":3}",
        "{\"error\":{\"code\":-32603,\"message\":\"Internal error\"},\"id\":5}",
        "{\"id\":6,\"result\":\"after\"}"
      ])
      assert.deepStrictEqual(seen, [
        "request slow",
        "request echo",
        "notification initialized",
        "request reject",
        "request fail",
        "request die",
        "request after"
      ])
    }))

  it.live("a result sent early (EarlyAnswer) is written at once, once, and the rest of the work runs after it", () =>
    Effect.gen(function*() {
      const { channel, written } = memoryChannel([
        "{\"id\":1,\"method\":\"early\"}",
        "{\"id\":2,\"method\":\"earlyThenFail\"}",
        "{\"id\":3,\"method\":\"next\"}"
      ])
      // what was on the channel when the work went on after sending (the rest of a command: lock release, ...)
      const writtenAfterSend: Array<ReadonlyArray<string>> = []
      const early = (value: unknown, then: Effect.Effect<unknown, RpcError>) =>
        Effect.gen(function*() {
          const send = yield* EarlyAnswer
          if (send === undefined) return assert.fail("the peer provides EarlyAnswer to a request's work")
          send(value)
          // a second send is ignored: one response per request
          send("ignored")
          writtenAfterSend.push([...written])
          return yield* then
        })
      const earlyHandlers: PeerHandlers = {
        request: (req) => {
          switch (req.method) {
            case "early":
              return early({ sent: "early" }, Effect.succeed({ sent: "late" }))
            case "earlyThenFail":
              return early({ sent: "early" }, Effect.fail(new RpcError({ code: ErrorCode.internalError, message: "after" })))
            default:
              return Effect.succeed(req.method)
          }
        },
        notification: () => Effect.void
      }
      const logged: Array<unknown> = []
      const logger = Logger.make(({ message }) => void logged.push(message))
      yield* servePeer(channel, earlyHandlers).pipe(Effect.provide(Logger.layer([logger])))
      assert.deepStrictEqual(written, [
        "{\"id\":1,\"result\":{\"sent\":\"early\"}}",
        "{\"id\":2,\"result\":{\"sent\":\"early\"}}",
        "{\"id\":3,\"result\":\"next\"}"
      ])
      assert.deepStrictEqual(writtenAfterSend.map((lines) => lines.length), [1, 2])
      // the failure after the answer is not lost: logged (on stderr in serve), not answered a second time
      assert.isTrue(logged.some((message) => JSON.stringify(message).includes("request failed after its answer was sent")))
    }))

  it.live("ends when the input ends, after the last request is answered", () =>
    Effect.gen(function*() {
      const { channel, written } = memoryChannel(["{\"id\":1,\"method\":\"slow\"}"])
      yield* servePeer(channel, handlers([]))
      assert.deepStrictEqual(written, ["{\"id\":1,\"result\":\"slow done\"}"])
    }))
})
