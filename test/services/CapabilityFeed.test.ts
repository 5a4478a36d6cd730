/**
 * The `plugin/capabilitiesChanged` feed beyond log events: config.toml edits that are not events (`[features]
 * plugins`, `[mcp_servers]`) and hand edits of cached bundles, through the daemon's layer and real file watches;
 * and its start-up: the layer is up before the first answer is computed, and a change that arrives meanwhile is
 * reported against the answer for the log position the layer started at.
 */
import * as NodeFs from "node:fs"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Context, Deferred, Effect, Layer, PubSub, Stream } from "effect"
import { daemonLayer } from "../../src/cli/DaemonLayer.ts"
import { deriveCapabilities } from "../../src/domain/Capabilities.ts"
import { CapabilitiesService, type CapabilitiesView } from "../../src/services/Capabilities.ts"
import { type CapabilitiesChanged, CapabilityFeed } from "../../src/services/CapabilityFeed.ts"
import { Engine } from "../../src/services/EngineApi.ts"
import type { LogRecord } from "../../src/services/EventLog.ts"
import { internalError } from "../../src/services/EngineApi.ts"
import { LedgerConfig } from "../../src/services/LedgerConfig.ts"
import { LogTailer } from "../../src/services/LogTailer.ts"
import { PathWatch } from "../../src/services/PathWatch.ts"
import { ALPHA, INITIAL_CONFIG, install, pluginCacheDir, worldScoped, writeFile } from "../support/LedgerWorld.ts"

/** the next notification; a missing one fails the test instead of hanging it */
const next = (sub: PubSub.Subscription<CapabilitiesChanged>, what: string) =>
  PubSub.take(sub).pipe(
    Effect.timeoutOrElse({ duration: "10 seconds", orElse: () => Effect.fail(new Error(`no plugin/capabilitiesChanged after ${what}`)) })
  )
const none = (sub: PubSub.Subscription<CapabilitiesChanged>) => PubSub.take(sub).pipe(Effect.timeoutOption("300 millis"))

describe("capability feed", () => {
  it.live("config.toml edits that are no events and hand edits of the cache are reported", () =>
    Effect.gen(function*() {
      const world = yield* worldScoped
      writeFile(Path.join(world.repo, "plugins", "alpha", ".mcp.json"), JSON.stringify({ mcpServers: { notes: { command: "notes-server" } } }))
      yield* Effect.gen(function*() {
        const engine = yield* Engine
        const feed = yield* CapabilityFeed
        const sub = yield* feed.subscribe
        yield* install(engine, world, "alpha")
        const installed = yield* next(sub, "the install")
        assert.deepStrictEqual(installed.changes.mcpServers.added, ["notes"])

        NodeFs.writeFileSync(world.paths.configPath, INITIAL_CONFIG.replace("plugins = true", "plugins = false"))
        const off = yield* next(sub, "[features] plugins = false")
        assert.deepStrictEqual(off.changes.plugins, { added: [], removed: [ALPHA] })
        assert.deepStrictEqual(off.changes.excluded.added, [`${ALPHA} feature-disabled`])

        NodeFs.writeFileSync(world.paths.configPath, `${INITIAL_CONFIG}\n[mcp_servers.notes]\ncommand = "my-notes"\n`)
        const on = yield* next(sub, "[features] plugins = true with a user [mcp_servers] entry")
        assert.deepStrictEqual(on.changes.plugins, { added: [ALPHA], removed: [] })
        assert.deepStrictEqual(on.changes.mcpServers.added, [], "the user's `notes` shadows the plugin's")

        NodeFs.writeFileSync(world.paths.configPath, INITIAL_CONFIG)
        const unshadowed = yield* next(sub, "the user's [mcp_servers] entry removed")
        assert.deepStrictEqual(unshadowed.changes.mcpServers.added, ["notes"])

        const root = Path.join(pluginCacheDir(world, "alpha"), "local")
        writeFile(Path.join(root, "skills", "bye", "SKILL.md"), "---\nname: bye\ndescription: say bye\n---\n")
        const skill = yield* next(sub, "a skill added by hand to the cache")
        assert.deepStrictEqual(skill.changes.skills, { added: ["alpha:bye"], removed: [] })

        NodeFs.writeFileSync(Path.join(root, "skills", "bye", "SKILL.md"), "---\nname: bye\ndescription: say goodbye\n---\n")
        const edited = yield* next(sub, "a SKILL.md description edited in the cache")
        assert.strictEqual(edited.seq, skill.seq, "no event behind it")
        const service = yield* CapabilitiesService
        assert.strictEqual((yield* service.current).skills.find((s) => s.name === "alpha:bye")?.description, "say goodbye")

        NodeFs.writeFileSync(Path.join(root, ".mcp.json"), JSON.stringify({ mcpServers: { notes: { command: "notes-server" }, more: { command: "m" } } }))
        const mcp = yield* next(sub, ".mcp.json edited in the cache")
        assert.deepStrictEqual(mcp.changes.mcpServers.added, ["more"])

        NodeFs.writeFileSync(Path.join(root, "unrelated.txt"), "x")
        assert.strictEqual((yield* none(sub))._tag, "None", "a file that changes nothing an agent uses")
      }).pipe(Effect.provide(daemonLayer(world.paths)))
    }))

  it.live("start-up: the layer is up before the first answer; a change arriving meanwhile is reported against the start position", () =>
    Effect.gen(function*() {
      const world = yield* worldScoped
      const root = Path.join(world.paths.cacheDir, "market", "alpha", "local")
      const view = (seq: number, active: boolean): CapabilitiesView => ({
        seq,
        at: null,
        ...deriveCapabilities({
          pluginsFeature: true,
          userMcpServers: new Set(),
          plugins: active
            ? [{
              pluginId: ALPHA,
              installed: true,
              enabled: true,
              load: {
                _tag: "Loaded",
                bundle: {
                  root,
                  manifestName: "alpha",
                  description: null,
                  skillRoots: [],
                  skills: [{ name: "alpha:hello", description: "hi", path: Path.join(root, "skills", "hello", "SKILL.md") }],
                  mcpServers: [],
                  apps: [],
                  warnings: []
                }
              }
            }]
            : []
        })
      })
      const gate = yield* Deferred.make<void>()
      const asked: Array<number> = []
      const records = yield* PubSub.unbounded<LogRecord>()
      const capabilities = Layer.succeed(CapabilitiesService, CapabilitiesService.of({
        current: Effect.succeed(view(6, true)),
        upTo: (seq) => Effect.sync(() => asked.push(seq)).pipe(Effect.andThen(Deferred.await(gate)), Effect.as(view(seq, false))),
        forget: () => Effect.void,
        at: () => Effect.fail(internalError("not used")),
        mention: () => Effect.fail(internalError("not used"))
      }))
      const tailer = Layer.succeed(LogTailer, LogTailer.of({ subscribe: PubSub.subscribe(records), subscribeAfter: () => Effect.succeed(Stream.empty), catchUp: Effect.void, lastSeq: Effect.succeed(5) }))
      const layer = CapabilityFeed.layer.pipe(Layer.provide(Layer.mergeAll(capabilities, tailer, PathWatch.layer, LedgerConfig.layer(world.paths))))
      // the baseline is held back: building must not wait for it (a deadlock fails here instead of hanging)
      const context = yield* Layer.build(layer).pipe(
        Effect.timeoutOrElse({ duration: "10 seconds", orElse: () => Effect.fail(new Error("the feed's layer waited for its first answer")) })
      )
      const sub = yield* Context.get(context, CapabilityFeed).subscribe
      yield* PubSub.publish(records, { seq: 6, id: "r6", ts: "2026-01-01T00:00:00.000Z", type: "PluginInstalled", data: null, prev: "p", h: "h" })
      assert.strictEqual((yield* none(sub))._tag, "None", "nothing before the baseline exists")
      assert.deepStrictEqual(asked, [5], "the baseline is for the position the subscription started after")
      yield* Deferred.succeed(gate, undefined)
      const first = yield* next(sub, "the baseline")
      assert.strictEqual(first.seq, 6)
      assert.deepStrictEqual(first.changes.plugins, { added: [ALPHA], removed: [] })
      assert.deepStrictEqual(first.changes.skills.added, ["alpha:hello"])
      assert.strictEqual((yield* none(sub))._tag, "None", "the change is reported once")
    }))
})
