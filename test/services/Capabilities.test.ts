/**
 * The capability answer through the real engine and bundle reader: the current state from the cache, a past point
 * from the blob store (paths reported as the cache dirs of then), agreement with `plugin/read` (whose output the
 * conformance suite compares with the reference) on skills, MCP server names and apps, the MCP normalization on
 * real files, and the daemon's `plugin/capabilitiesChanged` feed.
 */
import * as NodeServices from "@effect/platform-node/NodeServices"
import * as NodeFs from "node:fs"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, PubSub, Schema } from "effect"
import { LedgerFs } from "../../src/adapters/LedgerFs.ts"
import { readLogReadOnly } from "../../src/adapters/LogReader.ts"
import { PluginBundle } from "../../src/adapters/PluginBundle.ts"
import { nodeTreeFs } from "../../src/adapters/TreeFs.ts"
import { daemonLayer } from "../../src/cli/DaemonLayer.ts"
import { capabilitiesOf, CapabilitiesService } from "../../src/services/Capabilities.ts"
import { CapabilityFeed } from "../../src/services/CapabilityFeed.ts"
import { Engine } from "../../src/services/EngineApi.ts"
import { ALPHA, BETA, install, type World, withEngine, worldScoped, writeFile } from "../support/LedgerWorld.ts"

const readerLayer = Layer.mergeAll(LedgerFs.layer, PluginBundle.layer.pipe(Layer.provide(NodeServices.layer)))
const answer = (world: World, source: "cache" | "blobs", uptoSeq?: number) =>
  Effect.suspend(() => {
    const records = readLogReadOnly(nodeTreeFs, world.paths.ledgerDir).records
    return capabilitiesOf(world.paths, uptoSeq === undefined ? records : records.filter((r) => r.seq <= uptoSeq), source)
  }).pipe(Effect.provide(readerLayer))

const ReadPlugin = Schema.Struct({
  skills: Schema.Array(Schema.Struct({ name: Schema.String, description: Schema.String })),
  mcpServers: Schema.Array(Schema.String),
  apps: Schema.Array(Schema.Struct({ id: Schema.String }))
})

/** alpha: a skill, an HTTP MCP server with `type`/`oauth`, a stdio one with a relative cwd, an app; beta: skill + app */
const furnish = (world: World) => {
  const alpha = Path.join(world.repo, "plugins", "alpha")
  writeFile(Path.join(alpha, ".mcp.json"), JSON.stringify({
    mcpServers: {
      web: { type: "http", url: "https://sample.example/mcp", oauth: { clientId: "client-id", callbackPort: 3118 } },
      local: { command: "serve-notes", cwd: "./bin" }
    }
  }))
  writeFile(Path.join(alpha, ".app.json"), JSON.stringify({ apps: { a: { id: "connector_example" }, blank: { id: " " } } }))
  writeFile(Path.join(world.repo, "plugins", "beta", ".app.json"), JSON.stringify({ apps: { a: { id: "connector_example" }, g: { id: "connector_gmail" } } }))
}

describe("capabilities of the ledger's state", () => {
  it.effect("current state: normalized MCP servers, apps with providers, warnings returned; equal to plugin/read where they overlap", () =>
    Effect.gen(function*() {
      const world = yield* worldScoped
      furnish(world)
      const reads = yield* withEngine(world, (engine) =>
        Effect.gen(function*() {
          yield* install(engine, world, "alpha")
          yield* install(engine, world, "beta")
          return yield* Effect.forEach(["alpha", "beta"], (pluginName) => engine.read({ marketplacePath: world.marketplacePath, pluginName }))
        }))
      const caps = yield* answer(world, "cache")
      const alphaRoot = Path.join(world.paths.cacheDir, "market", "alpha", "local")
      assert.deepStrictEqual(caps.mcpServers.map((s) => [s.name, s.transport, s.config, s.pluginId]), [
        ["local", "stdio", { enabled: true, required: false, command: "serve-notes", cwd: Path.join(alphaRoot, "bin") }, ALPHA],
        ["web", "streamable_http", { enabled: true, required: false, url: "https://sample.example/mcp" }, ALPHA]
      ])
      assert.deepStrictEqual(caps.apps, [{ id: "connector_example", pluginIds: [ALPHA, BETA] }, { id: "connector_gmail", pluginIds: [BETA] }])
      const warnings = caps.warnings.map((w) => `${w.pluginId}: ${w.message}`)
      assert.include(warnings, `${ALPHA}: plugin MCP server OAuth callbackPort is ignored; Codex uses global MCP OAuth callback settings`)
      assert.include(warnings, `${ALPHA}: plugin app config is missing an app id`)
      // plugin/read reads the marketplace source; the capability answer reads the installed copy of the same files
      for (const [n, id] of [ALPHA, BETA].entries()) {
        const plugin = Schema.decodeUnknownSync(ReadPlugin)(reads[n]?.plugin)
        assert.deepStrictEqual(caps.skills.filter((s) => s.pluginId === id).map((s) => [s.name, s.description]), plugin.skills.map((s) => [s.name, s.description]))
        assert.deepStrictEqual(caps.summaries.find((s) => s.configName === id)?.mcpServerNames, plugin.mcpServers)
        assert.deepStrictEqual(caps.summaries.find((s) => s.configName === id)?.appConnectorIds, plugin.apps.map((a) => a.id))
      }
      assert.include(caps.instructions ?? "", "- `alpha`: alpha plugin\n- `beta`: beta plugin\n")
    }))

  it.effect("a past point comes from the blob store: content and state of then, paths of then, today's cache untouched", () =>
    Effect.gen(function*() {
      const world = yield* worldScoped
      furnish(world)
      yield* withEngine(world, (engine) =>
        Effect.gen(function*() {
          yield* install(engine, world, "alpha")
          yield* install(engine, world, "beta")
          // later: alpha gets a second skill and is reinstalled, beta is disabled
          writeFile(Path.join(world.repo, "plugins", "alpha", "skills", "bye", "SKILL.md"), "---\nname: bye\ndescription: say bye\n---\n")
          yield* install(engine, world, "alpha")
          yield* engine.setEnabled({ pluginId: BETA, enabled: false }, { actor: "cli" })
        }))
      const now = yield* answer(world, "cache")
      assert.deepStrictEqual(now.skills.map((s) => s.name), ["alpha:bye", "alpha:hello"])
      assert.deepStrictEqual(now.excluded.map((e) => [e.pluginId, e.reason]), [[BETA, "disabled"]])
      // tamper with today's cache: the past answer must not see it
      NodeFs.rmSync(Path.join(world.paths.cacheDir, "market", "alpha", "local", "skills", "hello"), { recursive: true })
      const installs = readLogReadOnly(nodeTreeFs, world.paths.ledgerDir).records.filter((r) => r.type === "PluginInstalled")
      const then = yield* answer(world, "blobs", installs[1]?.seq)
      assert.deepStrictEqual(then.skills.map((s) => [s.pluginId, s.name, s.path]), [
        [ALPHA, "alpha:hello", Path.join(world.paths.cacheDir, "market", "alpha", "local", "skills", "hello", "SKILL.md")],
        [BETA, "beta:hello", Path.join(world.paths.cacheDir, "market", "beta", "local", "skills", "hello", "SKILL.md")]
      ])
      assert.deepStrictEqual(then.excluded, [])
      assert.strictEqual(then.seq, installs[1]?.seq)
      const later = yield* answer(world, "blobs")
      assert.deepStrictEqual(later.skills.map((s) => s.name), ["alpha:bye", "alpha:hello"], "the blobs hold what was installed, not the tampered cache")
    }))

  it.effect("a plugin whose cache is gone is left out with the reference's load error", () =>
    Effect.gen(function*() {
      const world = yield* worldScoped
      yield* withEngine(world, (engine) => install(engine, world, "alpha"))
      NodeFs.rmSync(Path.join(world.paths.cacheDir, "market", "alpha"), { recursive: true })
      const caps = yield* answer(world, "cache")
      assert.deepStrictEqual(caps.excluded, [{ pluginId: ALPHA, reason: "load-error", message: "path does not exist or is not a directory" }])
      assert.isNull(caps.instructions)
    }))

  it.live("daemon: one plugin/capabilitiesChanged per change, with the difference; the service answers mentions", () =>
    Effect.gen(function*() {
      const world = yield* worldScoped
      yield* Effect.gen(function*() {
        const engine = yield* Engine
        const feed = yield* CapabilityFeed
        const service = yield* CapabilitiesService
        const sub = yield* feed.subscribe
        yield* install(engine, world, "alpha")
        const first = yield* PubSub.take(sub)
        assert.deepStrictEqual(first.changes.plugins, { added: [ALPHA], removed: [] })
        assert.deepStrictEqual(first.changes.skills.added, ["alpha:hello"])
        yield* engine.setEnabled({ pluginId: ALPHA, enabled: true }, { actor: "cli" }) // no change, no event
        yield* engine.setEnabled({ pluginId: ALPHA, enabled: false }, { actor: "cli" })
        const second = yield* PubSub.take(sub)
        assert.deepStrictEqual(second.changes.plugins, { added: [], removed: [ALPHA] })
        assert.deepStrictEqual(second.changes.excluded.added, [`${ALPHA} disabled`])
        const extra = yield* PubSub.take(sub).pipe(Effect.timeoutOption("100 millis"))
        assert.strictEqual(extra._tag, "None", "a second notification for the same change")
        yield* engine.setEnabled({ pluginId: ALPHA, enabled: true }, { actor: "cli" })
        yield* PubSub.take(sub)
        const mention = yield* service.mention([{ type: "text", text: "with [@alpha](plugin://alpha@market)" }])
        assert.deepStrictEqual(mention.mentioned.map((m) => m.instructions), [
          "Capabilities from the `alpha` plugin:\n- Skills from this plugin are prefixed with `alpha:`.\nUse these plugin-associated capabilities to help solve the task."
        ])
        // "what could the agent use" right after the install, though alpha is enabled again now
        const past = yield* service.at({ _tag: "Seq", seq: second.seq })
        assert.deepStrictEqual(past.plugins.map((p) => p.pluginId), [])
        assert.deepStrictEqual((yield* service.at({ _tag: "Seq", seq: first.seq })).plugins.map((p) => p.pluginId), [ALPHA])
      }).pipe(Effect.provide(daemonLayer(world.paths)))
    }))
})
