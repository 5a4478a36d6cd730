/**
 * The fold's fast paths agree with the reference ones: `fastEventOf` with the Schema decoder (whenever it answers,
 * the same fields; it declines nothing the fold needs from the common events), and `foldEvents` with `evolve` applied
 * one by one. Random inputs; the seed is printed (SEED=<n> re-runs it).
 */
import { assert, describe, it } from "@effect/vitest"
import { Result, Schema } from "effect"
import * as fc from "fast-check"
import { fastEventOf } from "../../src/domain/FastEventDecode.ts"
import { PluginEvent } from "../../src/domain/Events.ts"
import { evolve, foldEvents, initialState } from "../../src/domain/PluginState.ts"
import { seedFor } from "../support/Soak.ts"

const decode = Schema.decodeUnknownResult(PluginEvent)
const seed = seedFor("FastEventDecode")

const actor = fc.constantFrom("rpc", "cli", "remote-sync", "config-edit", "repair", "host", "RPC", "")
const anyValue = fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constant(null), fc.constant([]), fc.constant({}))
/** maybe one of a key's plausible values, maybe a wrong one, maybe absent */
const field = (good: fc.Arbitrary<unknown>) => fc.option(fc.oneof({ arbitrary: good, weight: 6 }, { arbitrary: anyValue, weight: 1 }), { freq: 12 })
const cause = fc.record({
  actor: field(actor),
  requestId: field(fc.string()),
  client: field(fc.string()),
  syncId: field(fc.string()),
  extra: field(fc.string())
})
const data = fc.record({
  pluginId: field(fc.constantFrom("a@m", "b@m", "c@n")),
  cause: field(cause),
  pluginName: field(fc.string()),
  marketplaceName: field(fc.string()),
  marketplacePath: field(fc.string()),
  sourcePath: field(fc.string()),
  version: field(fc.constantFrom("local", "abc")),
  treeHash: field(fc.constantFrom("a".repeat(64), "b".repeat(64))),
  installPolicy: field(fc.constantFrom("AVAILABLE", "NOT_AVAILABLE", "INSTALLED_BY_DEFAULT", "available")),
  authPolicy: field(fc.constantFrom("ON_INSTALL", "ON_USE", "on_use")),
  unknownKey: field(fc.string())
})
const type = fc.constantFrom("PluginInstalled", "PluginEnabled", "PluginDisabled", "PluginUninstalled", "ProjectionRepaired", "Other")

/** null-valued fields stand for absent keys */
const compact = (value: unknown): unknown => {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return value
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== null).map(([k, v]) => [k, compact(v)]))
}
const plain = (value: unknown): unknown => JSON.parse(JSON.stringify(value))

describe("fast event decode", () => {
  it("agrees with the Schema decoder on random records", () => {
    let fast = 0
    fc.assert(
      fc.property(type, data, (t, raw) => {
        const input = compact(raw)
        const reference = typeof input === "object" && input !== null ? decode({ ...input, _tag: t }) : Result.fail(undefined)
        const quick = fastEventOf(t, input)
        if (quick === undefined) {
          // it declines only what it does not know, or what the Schema refuses too
          if (["PluginEnabled", "PluginDisabled", "PluginUninstalled", "PluginInstalled"].includes(t)) {
            assert.isTrue(Result.isFailure(reference), `declined a valid ${t}: ${JSON.stringify(input)}`)
          }
          return
        }
        fast++
        assert.isTrue(Result.isSuccess(reference), `accepted what the Schema refuses: ${t} ${JSON.stringify(input)}`)
        if (Result.isSuccess(reference)) {
          assert.deepStrictEqual(plain(quick), plain(reference.success))
          // in the same key order too: history entries and notifications are written from these (`cause`)
          assert.strictEqual(JSON.stringify(quick), JSON.stringify(reference.success))
        }
      }),
      { seed, numRuns: 3_000 }
    )
    assert.isAbove(fast, 100, "the fast path was hardly taken: the generator is off")
  })

  it("foldEvents equals evolve applied one by one", () => {
    const events = fc.array(
      fc.tuple(type, data).map(([t, raw]) => {
        const input = compact(raw)
        const decoded = typeof input === "object" && input !== null ? decode({ ...input, _tag: t }) : Result.fail(undefined)
        return Result.isSuccess(decoded) ? decoded.success : undefined
      }),
      { maxLength: 60 }
    )
    fc.assert(
      fc.property(events, (list) => {
        const items = list.map((event, i) => ({ event, seq: i + 1 }))
        let one = initialState
        for (const { event, seq } of items) one = event === undefined ? { ...one, seq } : evolve(one, event, seq)
        const before = new Map(one.plugins)
        const bulk = foldEvents(initialState, items)
        assert.deepStrictEqual(bulk, one)
        // the fold owned its map only while it ran: evolving its result later copies it
        const later = evolve(bulk, { _tag: "PluginEnabled", pluginId: "z@m", cause: { actor: "cli" } }, items.length + 1)
        assert.notStrictEqual(later.plugins, bulk.plugins)
        assert.deepStrictEqual(one.plugins, before)
      }),
      { seed, numRuns: 300 }
    )
  })
})
