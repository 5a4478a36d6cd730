/**
 * `verify` on real cache trees: deleted, modified, extra, mode-changed and replaced files are found; `repair`
 * restores the exact installed tree from the blob store, records one `ProjectionRepaired` per plugin, and a
 * second verify is clean. Without `repair` nothing is written.
 */
import * as NodeFs from "node:fs"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { ALPHA, BETA, cliOrigin, install, pluginCacheDir, readLog, withEngine, worldScoped, writeFile } from "../support/LedgerWorld.ts"
import { snapshotTree } from "../support/Trees.ts"

const listTree = (dir: string) => (NodeFs.existsSync(dir) ? snapshotTree(dir, { modes: true }) : [])

describe("verify and repair of plugin caches", () => {
  it.live("a clean ledger verifies ok: chain, trees, config", () =>
    Effect.gen(function*() {
      const world = yield* worldScoped
      const view = yield* withEngine(world, (engine) =>
        Effect.gen(function*() {
          yield* install(engine, world, "alpha")
          yield* install(engine, world, "beta")
          return yield* engine.verify({ repair: false }, cliOrigin)
        }))
      assert.isTrue(view.ok)
      assert.isTrue(view.log.ok)
      assert.strictEqual(view.log.records, 3)
      assert.deepStrictEqual(view.plugins.map((p) => [p.pluginId, p.ok, p.problems.length]), [[ALPHA, true, 0], [BETA, true, 0]])
      assert.deepStrictEqual(view.configDifferences, [])
      assert.strictEqual(view.configUnreadable, null)
    }))

  it.live("tampering is found path by path; without --repair nothing changes; with it the tree is restored and recorded", () =>
    Effect.gen(function*() {
      const world = yield* worldScoped
      yield* withEngine(world, (engine) => Effect.all([install(engine, world, "alpha"), install(engine, world, "beta")]))
      const alphaDir = pluginCacheDir(world, "alpha")
      const pristine = listTree(alphaDir)
      const betaTree = listTree(pluginCacheDir(world, "beta"))
      NodeFs.rmSync(Path.join(alphaDir, "local", "docs", "README.md"))
      writeFile(Path.join(alphaDir, "local", "skills", "hello", "SKILL.md"), "tampered\n")
      writeFile(Path.join(alphaDir, "local", "extra.txt"), "dropped in\n")
      NodeFs.chmodSync(Path.join(alphaDir, "local", ".codex-plugin", "plugin.json"), 0o777)
      NodeFs.mkdirSync(Path.join(alphaDir, "0.9.0"))
      const tampered = listTree(alphaDir)
      const logBefore = readLog(world)

      const found = yield* withEngine(world, (engine) => engine.verify({ repair: false }, cliOrigin))
      assert.isFalse(found.ok)
      const alpha = found.plugins.find((p) => p.pluginId === ALPHA)
      assert.deepStrictEqual(alpha?.problems, [
        { path: "0.9.0", kind: "extra" },
        { path: "local/.codex-plugin/plugin.json", kind: "mode" },
        { path: "local/docs/README.md", kind: "missing" },
        { path: "local/skills/hello/SKILL.md", kind: "modified" },
        { path: "local/extra.txt", kind: "extra" }
      ])
      assert.strictEqual(alpha?.repairedSeq, null)
      assert.isTrue(found.plugins.find((p) => p.pluginId === BETA)?.ok)
      assert.deepStrictEqual(readLog(world), logBefore, "verify alone appends nothing")
      assert.deepStrictEqual(listTree(alphaDir), tampered, "and changes nothing")

      const repaired = yield* withEngine(world, (engine) => engine.verify({ repair: true }, { ...cliOrigin, requestId: "fix-1" }))
      assert.isTrue(repaired.ok)
      const log = readLog(world)
      assert.deepStrictEqual(log.slice(logBefore.length).map((r) => r.type), ["ProjectionRepaired"])
      const event = log.at(-1)
      assert.strictEqual(event?.data["pluginId"], ALPHA)
      assert.strictEqual(event?.data["version"], "local")
      assert.deepStrictEqual(event?.data["cause"], { actor: "cli", requestId: "fix-1", client: "test-cli" })
      assert.strictEqual(repaired.plugins.find((p) => p.pluginId === ALPHA)?.repairedSeq, event?.seq)
      assert.deepStrictEqual(listTree(alphaDir), pristine, "restored byte for byte, modes included")
      assert.deepStrictEqual(listTree(pluginCacheDir(world, "beta")), betaTree, "the intact plugin is untouched")

      const again = yield* withEngine(world, (engine) => engine.verify({ repair: true }, cliOrigin))
      assert.isTrue(again.ok)
      assert.strictEqual(readLog(world).length, log.length, "nothing left to repair, nothing recorded")
    }))

  it.live("a deleted cache dir is restored; a missing blob is reported, not guessed", () =>
    Effect.gen(function*() {
      const world = yield* worldScoped
      yield* withEngine(world, (engine) => install(engine, world, "alpha"))
      const alphaDir = pluginCacheDir(world, "alpha")
      const pristine = listTree(alphaDir)
      NodeFs.rmSync(alphaDir, { recursive: true })
      const view = yield* withEngine(world, (engine) => engine.verify({ repair: true }, cliOrigin))
      assert.deepStrictEqual(view.plugins[0]?.problems, [{ path: ".", kind: "missing" }])
      assert.isTrue(view.ok)
      assert.deepStrictEqual(listTree(alphaDir), pristine)

      NodeFs.rmSync(world.paths.blobsDir, { recursive: true })
      writeFile(Path.join(alphaDir, "local", "docs", "README.md"), "changed\n")
      const broken = yield* withEngine(world, (engine) => engine.verify({ repair: true }, cliOrigin))
      assert.isFalse(broken.ok)
      assert.match(broken.plugins[0]?.error ?? "", /^cannot check the cache tree: /)
      assert.strictEqual(readLog(world).at(-1)?.type, "ProjectionRepaired", "only the first repair was recorded")
      assert.strictEqual(readLog(world).filter((r) => r.type === "ProjectionRepaired").length, 1)
    }))

  it.live("a config.toml edit not adopted yet is reported by verify", () =>
    Effect.gen(function*() {
      const world = yield* worldScoped
      const view = yield* withEngine(world, (engine) =>
        Effect.gen(function*() {
          yield* install(engine, world, "alpha")
          const path = world.paths.configPath
          NodeFs.writeFileSync(path, NodeFs.readFileSync(path, "utf8").replace("enabled = true", "enabled = false"))
          return yield* engine.verify({ repair: false }, cliOrigin)
        }))
      assert.deepStrictEqual(view.configDifferences, [
        { pluginId: ALPHA, before: { configured: true, enabled: true }, after: { configured: true, enabled: false } }
      ])
    }))
})
