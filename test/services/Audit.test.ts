/**
 * The audit queries on a real ledger, with the clock under test control so times are exact: `why` names the
 * deciding events and the chain since the last install; `history` filters by plugin, seq, time and actor.
 */
import * as NodeFs from "node:fs"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { TestClock } from "effect/testing"
import { ALPHA, BETA, install, readConfig, withEngine, worldScoped } from "../support/LedgerWorld.ts"

const T0 = Date.parse("2026-11-01T10:00:00.000Z")
const minutes = (n: number) => n * 60_000

describe("plugin/why and history filters", () => {
  it.effect("why: deciding events with actor, client and request; the chain starts at the last install", () =>
    Effect.gen(function*() {
      const world = yield* worldScoped
      yield* TestClock.setTime(T0)
      const views = yield* withEngine(world, (engine) =>
        Effect.gen(function*() {
          yield* install(engine, world, "alpha", { actor: "rpc", client: "codex-tui", requestId: "1" })
          yield* TestClock.adjust(minutes(1))
          yield* engine.uninstall({ pluginId: ALPHA }, { actor: "cli", client: "plugin-ledger-cli" })
          yield* TestClock.adjust(minutes(1))
          yield* install(engine, world, "alpha", { actor: "rpc", client: "vscode", requestId: "7" })
          yield* TestClock.adjust(minutes(1))
          yield* engine.setEnabled({ pluginId: ALPHA, enabled: false }, { actor: "rpc", client: "vscode", requestId: "8" })
          return {
            alpha: yield* engine.why({ pluginId: ALPHA }),
            beta: yield* engine.why({ pluginId: BETA }),
            bad: yield* Effect.flip(engine.why({ pluginId: "no-marketplace" }))
          }
        }))
      assert.deepStrictEqual(views.alpha.state, { known: true, installed: true, configured: true, enabled: false, version: "local", lastSeq: 5 })
      assert.deepStrictEqual(views.alpha.events.map((e) => [e.seq, e.type, e.cause?.client]), [
        [4, "PluginInstalled", "vscode"],
        [5, "PluginDisabled", "vscode"]
      ])
      assert.strictEqual(views.alpha.because.length, 2)
      assert.match(views.alpha.because[0] ?? "", /^installed: installed version local from .* by rpc \(client=vscode, request=7\) at 2026-11-01T10:02:00.000Z \(seq 4\)$/)
      assert.strictEqual(views.alpha.because[1], "disabled: disabled by rpc (client=vscode, request=8) at 2026-11-01T10:03:00.000Z (seq 5)")
      assert.deepStrictEqual(views.beta.state, { known: false, installed: false, configured: false, enabled: false, version: null, lastSeq: null })
      assert.deepStrictEqual(views.beta.because, ["the ledger has no events about this plugin"])
      assert.strictEqual(views.bad.kind, "InvalidRequest")
    }))

  it.effect("why after an uninstall, and after a hand edit: the deciding event is the last one of its kind", () =>
    Effect.gen(function*() {
      const world = yield* worldScoped
      yield* TestClock.setTime(T0)
      yield* withEngine(world, (engine) =>
        Effect.gen(function*() {
          yield* install(engine, world, "alpha")
          yield* install(engine, world, "beta")
          yield* engine.uninstall({ pluginId: BETA }, { actor: "cli" })
        }))
      NodeFs.writeFileSync(world.paths.configPath, readConfig(world).replace("enabled = true", "enabled = false"))
      const views = yield* withEngine(world, (engine) =>
        Effect.all({ alpha: engine.why({ pluginId: ALPHA }), beta: engine.why({ pluginId: BETA }) }))
      assert.deepStrictEqual([views.beta.state.installed, views.beta.state.enabled], [false, false])
      assert.match(views.beta.because[0] ?? "", /^not installed: uninstalled by cli at /)
      assert.deepStrictEqual(views.beta.events.map((e) => e.type), ["PluginInstalled", "PluginUninstalled"])
      assert.match(views.alpha.because[1] ?? "", /^disabled: config.toml edited by hand: enabled true -> false by config-edit at /)
      assert.deepStrictEqual(views.alpha.events.map((e) => e.type), ["PluginInstalled", "PluginStateChangedExternally"])
    }))

  it.effect("history filters: plugin, after a seq, since/until a time, actor, limit; combined", () =>
    Effect.gen(function*() {
      const world = yield* worldScoped
      yield* TestClock.setTime(T0)
      const result = yield* withEngine(world, (engine) =>
        Effect.gen(function*() {
          yield* install(engine, world, "alpha", { actor: "rpc", client: "c" }) // seq 2 at +0
          yield* TestClock.adjust(minutes(10))
          yield* install(engine, world, "beta", { actor: "cli" }) // seq 3 at +10
          yield* TestClock.adjust(minutes(10))
          yield* engine.setEnabled({ pluginId: ALPHA, enabled: false }, { actor: "cli" }) // seq 4 at +20
          yield* TestClock.adjust(minutes(10))
          yield* engine.setEnabled({ pluginId: ALPHA, enabled: true }, { actor: "rpc" }) // seq 5 at +30
          const seqs = (query: Parameters<typeof engine.history>[0]) =>
            Effect.map(engine.history(query), (entries) => entries.map((e) => e.seq))
          return {
            all: yield* seqs({}),
            alpha: yield* seqs({ pluginId: ALPHA }),
            afterSeq: yield* seqs({ afterSeq: 3 }),
            since: yield* seqs({ since: new Date(T0 + minutes(10)).toISOString() }),
            until: yield* seqs({ until: new Date(T0 + minutes(20)).toISOString() }),
            cli: yield* seqs({ actor: "cli" }),
            combined: yield* seqs({ pluginId: ALPHA, actor: "rpc", since: new Date(T0 + minutes(5)).toISOString() }),
            limited: yield* seqs({ pluginId: ALPHA, limit: 2 })
          }
        }))
      assert.deepStrictEqual(result, {
        all: [1, 2, 3, 4, 5],
        alpha: [2, 4, 5],
        afterSeq: [4, 5],
        since: [3, 4, 5],
        until: [1, 2, 3],
        cli: [3, 4],
        combined: [5],
        limited: [4, 5]
      })
    }))
})
