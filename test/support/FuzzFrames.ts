/**
 * Random request frames for the R10 fuzz suite, and the oracle that says what the server must answer.
 *
 * Frames are built as text from parts, so the suite can place what JSON.stringify cannot make: integer ids beyond
 * 2^53 with their exact digits, values nested 10,000 and 100,000 deep, strings of several MB, and invalid UTF-8
 * inside a string value. The generator mixes valid method names and params (real marketplace paths, plugin names,
 * ids, idempotency keys that get reused) with wrong types, unknown fields, `..`, relative and absolute paths,
 * symlinked marketplaces, ids of every type, and raw garbage.
 */
import fc from "fast-check"
import * as Path from "node:path"
import { methodParams } from "../../src/rpc/WireParams.ts"
import type { FuzzWorld } from "./FuzzWorld.ts"

export const HUGE_STRING = JSON.stringify("h".repeat(3 * 1024 * 1024))
export const DEEP_ARRAY_10K = `${"[".repeat(10_000)}${"]".repeat(10_000)}`
export const DEEP_OBJECT_10K = `${"{\"a\":".repeat(10_000)}1${"}".repeat(10_000)}`
export const DEEP_ARRAY_100K = `${"[".repeat(100_000)}${"]".repeat(100_000)}`
const INVALID_UTF8_MARK = "\u0001BAD\u0001"
const INVALID_UTF8_TEXT = JSON.stringify(INVALID_UTF8_MARK).slice(1, -1)
const INVALID_UTF8_BYTES = [
  Buffer.from([0xff]),
  Buffer.from([0xc3]),
  Buffer.from([0xed, 0xa0, 0x80]),
  Buffer.from([0xc0, 0xaf]),
  Buffer.from([0xf4, 0x90, 0x80, 0x80]),
  Buffer.from([0x80, 0x80, 0xfe])
]

export interface Frame {
  readonly bytes: Buffer
  /** the source text of the top-level id, when the generator placed one */
  readonly idText: string | undefined
}

const text = (frame: string, idText?: string): Frame => ({ bytes: Buffer.from(frame, "utf8"), idText })

// ---- values

const str = (arbitrary: fc.Arbitrary<string>) => arbitrary.map((s) => JSON.stringify(s))

const anyJson: fc.Arbitrary<string> = fc.oneof(
  { weight: 40, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)) },
  { weight: 1, arbitrary: fc.constantFrom(DEEP_ARRAY_10K, DEEP_OBJECT_10K) },
  { weight: 4, arbitrary: fc.constantFrom("1e300", "-0", "1.0", "9223372036854775808", "1e2", "0.5", "-1") }
)
/** values of several MB or 100,000 levels: rare, they cost tens of ms each */
const extremeJson = fc.constantFrom(HUGE_STRING, DEEP_ARRAY_100K, DEEP_OBJECT_10K)

/** A value for a known key: usually a plausible one, sometimes any JSON. */
const field = (plausible: fc.Arbitrary<string>) =>
  fc.oneof({ weight: 5, arbitrary: plausible }, { weight: 1, arbitrary: anyJson })

const pathTricks = (world: FuzzWorld): ReadonlyArray<string> => [
  world.marketplacePath,
  world.marketplacePath,
  ...world.otherMarketplaces,
  Path.join(world.repo, "plugins", "..", ".agents", "plugins", ".", "marketplace.json"),
  `${world.repo}/../repo/.agents/plugins/marketplace.json`,
  "/",
  "/etc/passwd",
  world.repo,
  Path.join(world.root, "outside", "secret.txt"),
  "/nonexistent/a/../b/marketplace.json",
  "rel/marketplace.json",
  "",
  "../x",
  "./x",
  `/tmp/${"long/".repeat(800)}x.json`,
  "/with\u0000nul"
]

const idKeys = fc.constantFrom("k1", "k2", "k3", "k4", "shared")

const params = (world: FuzzWorld, method: string): fc.Arbitrary<string> => {
  const names = [...world.pluginNames, "../x", "", "..", "/etc/passwd", "linked/../alpha", "ALPHA", "a".repeat(300), "é"]
  const ids = [...world.pluginNames.map((n) => `${n}@market`), "x@y", "../x", "a@../../b", "@", "alpha@market@x", "alpha", ""]
  const values: Record<string, fc.Arbitrary<string>> = {
    marketplacePath: field(str(fc.constantFrom(...pathTricks(world)))),
    pluginName: field(str(fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...names) }, { weight: 1, arbitrary: fc.string() }))),
    pluginId: field(str(fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...ids) }, { weight: 1, arbitrary: fc.string() }))),
    cwds: field(fc.oneof(
      fc.constant("null"),
      fc.array(fc.constantFrom(world.repo, world.root, Path.dirname(Path.dirname(Path.dirname(world.otherMarketplaces[0] ?? "/"))), "/", "rel", ""), { maxLength: 4 })
        .map((a) => JSON.stringify(a))
    )),
    forceRemoteSync: field(fc.constantFrom("false", "false", "true")),
    idempotencyKey: field(fc.oneof(fc.constant("null"), str(idKeys), str(fc.string()))),
    limit: field(fc.constantFrom("null", "0", "1", "5", "-1", "4294967296", "1.5", "\"3\"")),
    clientInfo: field(fc.constantFrom("{\"name\":\"again\",\"version\":\"2\"}", "{\"name\":5}", "{}")),
    capabilities: field(fc.constantFrom("null", "{\"experimentalApi\":true}", "{\"optOutNotificationMethods\":[1]}"))
  }
  const shape = methodParams.get(method)
  const known = shape?.kind === "struct" ? shape.fields.map((f) => f.key) : Object.keys(values)
  const entry = (key: string) => fc.option(values[key] ?? anyJson, { freq: 6, nil: undefined }).map((v) => (v === undefined ? [] : [`"${key}":${v}`]))
  const unknownKey = fc.option(
    fc.tuple(fc.constantFrom("zzz", "params", "id", "__proto__", "constructor", "marketplacePath"), anyJson).map(([k, v]) => `"${k}":${v}`),
    { freq: 4, nil: undefined }
  )
  const object = fc.tuple(fc.tuple(...known.map(entry)), unknownKey, fc.boolean()).map(([entries, extra, badUtf8]) => {
    const members = [...entries.flat(), ...(extra === undefined ? [] : [extra])]
    if (badUtf8) members.push(`"note":"x${INVALID_UTF8_TEXT}y"`)
    return `{${members.join(",")}}`
  })
  return fc.oneof(
    { weight: 12, arbitrary: object },
    { weight: 1, arbitrary: fc.array(anyJson, { maxLength: 4 }).map((a) => `[${a.join(",")}]`) },
    { weight: 1, arbitrary: anyJson }
  )
}

// ---- frames

const idTexts: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: fc.integer().map(String) },
  { weight: 4, arbitrary: str(fc.string()) },
  { weight: 1, arbitrary: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String) },
  { weight: 1, arbitrary: fc.bigInt({ min: 2n ** 63n, max: 2n ** 70n }).map((n) => (n % 2n === 0n ? `-${n + 1n}` : String(n))) },
  { weight: 1, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }).filter((d) => !Number.isInteger(d)).map(String) },
  { weight: 1, arbitrary: fc.constantFrom("\"\\ud800\"", "\"\"", "true", "{}", "[1]", "1.0", "-0", "1e2", "1e300", "9007199254740993.0") },
  { weight: 1, arbitrary: fc.constant(DEEP_ARRAY_10K) }
)

const METHODS = [...methodParams.keys()]
const MUTATIONS = ["plugin/install", "plugin/uninstall", "plugin/enable", "plugin/disable"]

export const frameArbitrary = (world: FuzzWorld): fc.Arbitrary<Frame> => {
  const methodText = fc.oneof(
    { weight: 8, arbitrary: fc.constantFrom(...METHODS, ...MUTATIONS, ...MUTATIONS, "plugin/list", "plugin/read").map((m) => JSON.stringify(m)) },
    { weight: 1, arbitrary: str(fc.constantFrom("initialized", "thread/start", "PLUGIN/LIST", "plugin/list/", "", "../../etc/passwd", "plugin/\u0000")) },
    { weight: 1, arbitrary: anyJson }
  )
  const structured = fc
    .record(
      {
        jsonrpc: fc.option(fc.constantFrom("\"2.0\"", "\"2.0\"", "\"1.0\"", "2"), { freq: 2, nil: undefined }),
        id: fc.option(idTexts, { freq: 12, nil: undefined }),
        method: fc.option(methodText, { freq: 30, nil: undefined }),
        result: fc.option(fc.constantFrom("{}", "null"), { freq: 20, nil: undefined }),
        order: fc.nat(23)
      }
    )
    .chain((r) => {
      let method: string | undefined
      try {
        method = r.method === undefined ? undefined : JSON.parse(r.method)
      } catch {
        method = undefined
      }
      const paramsText = fc.option(params(world, typeof method === "string" ? method : "plugin/list"), { freq: 15, nil: undefined })
      return fc.tuple(fc.constant(r), paramsText, fc.constantFrom(...INVALID_UTF8_BYTES), fc.boolean())
    })
    .map(([r, p, badBytes, crlf]) => {
      const members = [
        r.jsonrpc === undefined ? undefined : `"jsonrpc":${r.jsonrpc}`,
        r.id === undefined ? undefined : `"id":${r.id}`,
        r.method === undefined ? undefined : `"method":${r.method}`,
        p === undefined ? undefined : `"params":${p}`,
        r.result === undefined ? undefined : `"result":${r.result}`
      ].filter((m) => m !== undefined)
      // a few member orders (the id is not always first)
      const rotated = [...members.slice(r.order % Math.max(1, members.length)), ...members.slice(0, r.order % Math.max(1, members.length))]
      const frameText = `{${rotated.join(",")}}${crlf ? "\r" : ""}`
      const cut = frameText.indexOf(INVALID_UTF8_TEXT)
      const bytes = cut < 0
        ? Buffer.from(frameText, "utf8")
        : Buffer.concat([Buffer.from(frameText.slice(0, cut), "utf8"), badBytes, Buffer.from(frameText.slice(cut + INVALID_UTF8_TEXT.length), "utf8")])
      return { bytes, idText: r.id }
    })
  const raw: fc.Arbitrary<Frame> = fc.oneof(
    fc.string({ unit: "binary", maxLength: 200 }).map((s) => text(s.replaceAll("\n", " "))),
    fc.jsonValue({ maxDepth: 3 }).map((v) => text(JSON.stringify(v))),
    fc.constantFrom("", "   ", "\r", "\uFEFF{\"id\":1,\"method\":\"plugin/list\",\"params\":{}}", "{\"id\":1,}", "nul").map((s) => text(s)),
    fc.uint8Array({ maxLength: 64 }).map((a) => ({ bytes: Buffer.from(a.map((b) => (b === 0x0a ? 0x20 : b))), idText: undefined }))
  )
  const truncated = fc.tuple(structured, fc.nat()).map(([frame, n]) => ({ bytes: frame.bytes.subarray(0, n % (frame.bytes.length + 1)), idText: undefined }))
  // one huge or 100,000-deep value in an otherwise plausible request (as its params, a param, or its id), or a raw
  // line of MBs
  const extreme: fc.Arbitrary<Frame> = fc.oneof(
    fc.tuple(fc.constantFrom(...MUTATIONS, "plugin/list", "plugin/read"), extremeJson, fc.integer())
      .map(([method, value, id]) => text(`{"id":${id},"method":${JSON.stringify(method)},"params":${value}}`, String(id))),
    fc.tuple(fc.constantFrom(...MUTATIONS, "plugin/read"), fc.constantFrom("pluginName", "pluginId", "marketplacePath", "idempotencyKey", "zzz"), extremeJson, fc.integer())
      .map(([method, key, value, id]) =>
        text(`{"id":${id},"method":${JSON.stringify(method)},"params":{"marketplacePath":${JSON.stringify(world.marketplacePath)},"pluginName":"alpha","pluginId":"alpha@market","${key}":${value}}}`, String(id))
      ),
    fc.tuple(fc.constantFrom(...MUTATIONS), fc.constantFrom(HUGE_STRING, DEEP_ARRAY_100K))
      .map(([method, id]) => text(`{"id":${id},"method":${JSON.stringify(method)},"params":{"marketplacePath":${JSON.stringify(world.marketplacePath)},"pluginName":"beta","pluginId":"beta@market"}}`, id)),
    fc.constantFrom("[".repeat(100_000), "x".repeat(2 * 1024 * 1024), `{"id":1,"method":"plugin/list","params":{"pad":"${"y".repeat(2 * 1024 * 1024)}"}}`).map((s) => text(s, "1"))
  )
  // well-formed mutations, so that state really changes (and events are appended) between the bad frames
  const mutation: fc.Arbitrary<Frame> = fc
    .tuple(fc.constantFrom(...MUTATIONS), fc.constantFrom("alpha", "beta", "has-links"), fc.option(fc.oneof(idKeys, fc.uuid()), { nil: null }), fc.integer())
    .map(([method, plugin, key, id]) => {
      const target = method === "plugin/install"
        ? { marketplacePath: world.marketplacePath, pluginName: plugin }
        : { pluginId: `${plugin}@market` }
      return text(JSON.stringify({ id, method, params: { ...target, ...(key === null ? {} : { idempotencyKey: key }) } }), String(id))
    })
  return fc.oneof(
    { weight: 280, arbitrary: structured },
    { weight: 20, arbitrary: mutation },
    { weight: 40, arbitrary: raw },
    { weight: 20, arbitrary: truncated },
    { weight: 1, arbitrary: extreme }
  )
}

// ---- the oracle

export type Expected =
  | { readonly count: 0 }
  | {
    readonly count: 1
    /** the reply's id as JSON text; undefined when the frame does not pin it down (a rounded big integer) */
    readonly idText: string | undefined
    readonly jsonrpc: boolean
  }

const isRecord = (value: unknown): value is Readonly<Record<string, unknown>> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

const I64_MIN = -(2n ** 63n)
const I64_MAX = 2n ** 63n - 1n

/** What the server must write for one frame (documented in the README: bad frames get an error, never silence). */
export const expectedReply = (frame: Frame): Expected => {
  // as the server reads a line: invalid sequences become U+FFFD, a BOM stays (and is not JSON whitespace)
  let line = new TextDecoder("utf-8", { ignoreBOM: true }).decode(frame.bytes)
  if (line.endsWith("\r")) line = line.slice(0, -1)
  if (line.trim() === "") return { count: 0 }
  let value: unknown
  try {
    value = JSON.parse(line)
  } catch {
    return { count: 1, idText: "null", jsonrpc: false }
  }
  if (!isRecord(value)) return { count: 1, idText: "null", jsonrpc: false }
  const jsonrpc = value["jsonrpc"] === "2.0"
  const id = value["id"]
  const hasId = "id" in value && id !== null
  let idText: string | undefined = "null"
  let validId = false
  if (typeof id === "string" || Number.isSafeInteger(id)) {
    validId = true
    idText = JSON.stringify(id)
  } else if (typeof id === "number" && Number.isInteger(id)) {
    if (frame.idText === undefined) {
      idText = undefined
    } else if (/^-?\d+$/.test(frame.idText) && BigInt(frame.idText) >= I64_MIN && BigInt(frame.idText) <= I64_MAX) {
      validId = true
      idText = BigInt(frame.idText).toString()
    }
  }
  if (!("method" in value)) {
    if (hasId && ("result" in value || "error" in value)) return { count: 0 }
    return { count: 1, idText: validId ? idText : idText === undefined ? undefined : "null", jsonrpc }
  }
  if (hasId && !validId) return { count: 1, idText: idText === undefined ? undefined : "null", jsonrpc }
  if (typeof value["method"] !== "string") return { count: 1, idText: validId ? idText : "null", jsonrpc }
  return hasId ? { count: 1, idText, jsonrpc } : { count: 0 }
}

const RESPONSE_KEYS = new Set(["[\"id\",\"result\"]", "[\"error\",\"id\"]", "[\"jsonrpc\",\"id\",\"result\"]", "[\"jsonrpc\",\"error\",\"id\"]"])

/** The reply's id as JSON text (integers with the digits as written). */
const replyIdText = (line: string, reply: Readonly<Record<string, unknown>>): string => {
  const id = reply["id"]
  if (typeof id !== "number") return JSON.stringify(id)
  const match = /^\{(?:"jsonrpc":"2\.0",)?"id":(-?\d+),/.exec(line) ?? /,"id":(-?\d+)\}$/.exec(line)
  return match?.[1] ?? JSON.stringify(id)
}

/** Problems with `line` as the reply to a frame with expectation `expected` (empty when it is right). */
export const replyProblems = (line: string, expected: Expected & { readonly count: 1 }): ReadonlyArray<string> => {
  let reply: unknown
  try {
    reply = JSON.parse(line)
  } catch {
    return [`not JSON: ${line.slice(0, 200)}`]
  }
  if (!isRecord(reply)) return [`not an object: ${line.slice(0, 200)}`]
  const problems: Array<string> = []
  const keys = JSON.stringify(Object.keys(reply))
  if (!RESPONSE_KEYS.has(keys)) problems.push(`keys ${keys}`)
  if (("jsonrpc" in reply) !== expected.jsonrpc) problems.push(`jsonrpc echoed: ${"jsonrpc" in reply}, expected ${expected.jsonrpc}`)
  const idText = replyIdText(line, reply)
  if (expected.idText !== undefined && idText !== expected.idText) problems.push(`id ${idText}, expected ${expected.idText}`)
  const error = reply["error"]
  if (error !== undefined) {
    if (!isRecord(error) || typeof error["message"] !== "string" || error["message"] === "") problems.push("malformed error")
    else if (error["message"] === "Internal error") problems.push("an unexpected defect (Internal error)")
    else if (error["message"].startsWith("failed to project the ledger")) problems.push("failed after its event was recorded")
    else if (![-32700, -32600, -32603].includes(Number(error["code"]))) problems.push(`code ${String(error["code"])}`)
  }
  return problems
}

/**
 * `fc.check` with a short report: fast-check's own message would print the counterexample in full, which here can
 * hold strings of several MB. Throws with the seed, the path to replay and each value cut to 300 characters.
 */
export const checkProperty = async <Ts>(property: fc.IAsyncProperty<Ts>, parameters: fc.Parameters<Ts>): Promise<void> => {
  const details = await fc.check(property, parameters)
  if (!details.failed) return
  const short = (value: unknown): string => {
    const shown = Buffer.isBuffer(value) ? value.subarray(0, 300).toString("utf8") : typeof value === "string" ? value : JSON.stringify(value, (_, v) => (Buffer.isBuffer(v) ? v.subarray(0, 300).toString("utf8") : v))
    return (shown ?? String(value)).slice(0, 300)
  }
  const cause = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance)
  throw new Error(
    `property failed after ${details.numRuns} runs (seed ${details.seed}, path ${details.counterexamplePath ?? "-"})\n` +
      `counterexample: ${Array.isArray(details.counterexample) ? details.counterexample.map(short).join("\n  ") : short(details.counterexample)}\n` +
      `cause: ${cause.slice(0, 3_000)}`
  )
}

/** The outcome class of a reply, for the summary. */
export const outcomeOf = (line: string): string => {
  const reply: unknown = JSON.parse(line)
  if (!isRecord(reply)) return "?"
  const error = reply["error"]
  return isRecord(error) ? String(error["code"]) : "result"
}
