/**
 * `parseLine`'s fast path (plain `JSON.parse` and hand checks) against the Schema decoders it stands in front of:
 * random records with random damage to their fields, re-hashed so the hash verifies, must parse the same both ways.
 * The seed is printed (SEED=<n> re-runs it).
 */
import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import { hash128, parseLine, parseVerifiedLine } from "../../src/adapters/LogRecordFormat.ts"
import { seedFor } from "../support/Soak.ts"

const seed = seedFor("LogRecordFormat")
const hex = "0123456789abcdef"

/** A line with a verifying hash around any body: `{<fields>,"h":"<hash>"}`. */
const framed = (fields: string): Buffer => {
  const body = `{${fields}`
  return Buffer.from(`${body},"h":"${hash128(body)}"}`, "utf8")
}

const value = fc.oneof(
  fc.constant("1"), fc.constant("0"), fc.constant("-1"), fc.constant("1.5"), fc.constant("9007199254740993"), fc.constant("1e3"),
  fc.constant("\"x\""), fc.constant("null"), fc.constant("true"), fc.constant("{}"), fc.constant("[]"),
  fc.constant(`"${"a".repeat(32)}"`), fc.constant(`"${"A".repeat(32)}"`), fc.constant(`"${"a".repeat(31)}"`)
)
const field = (key: string, good: fc.Arbitrary<string>) =>
  fc.oneof(
    { arbitrary: good.map((v) => `"${key}":${v}`), weight: 8 },
    { arbitrary: value.map((v) => `"${key}":${v}`), weight: 1 },
    { arbitrary: fc.constant(""), weight: 1 }
  )
const line = fc.tuple(
  field("v", fc.constantFrom("1", "2")),
  field("seq", fc.integer({ min: 1, max: 1e6 }).map(String)),
  field("id", fc.string().map((s) => JSON.stringify(s))),
  field("ts", fc.constant("\"2026-01-01T00:00:00.000Z\"")),
  field("type", fc.constantFrom("\"PluginEnabled\"", "\"LogCreated\"")),
  field("data", fc.constantFrom("{\"pluginId\":\"a@m\"}", "null", "[1]", "\"s\"")),
  // a batch's count of the records after this one: absent, or an integer >= 1
  fc.oneof(fc.constant(""), field("more", fc.integer({ min: 1, max: 5 }).map(String))),
  field("prev", fc.stringMatching(/^[0-9a-f]{32}$/).map((s) => `"${s}"`)),
  fc.constantFrom("", "\"extra\":1", "\"h\":\"" + hex.repeat(2) + "\"")
)

describe("parseLine", () => {
  it("the fast path and the Schema decoders agree on damaged records", () => {
    let valid = 0
    fc.assert(
      fc.property(line, (parts) => {
        const bytes = framed(parts.filter((p) => p !== "").join(","))
        const h = bytes.toString("latin1").slice(-34, -2)
        const parsed = parseLine(bytes)
        const reference = parseVerifiedLine(bytes, h)
        if (parsed._tag === "Valid") valid++
        assert.deepStrictEqual(parsed, reference, bytes.toString("utf8"))
      }),
      { seed, numRuns: 3_000 }
    )
    assert.isAbove(valid, 300, "hardly any valid record was generated")
  })
})
