/**
 * Committed records cut off the end of the log (a truncated or restored `ledger/events`) while config.toml and the
 * cache still show them: the ledger must not rebuild silently from the shorter log (that would undo acknowledged
 * changes). It opens, answers reads, and refuses every write with a message naming the seqs.
 */
import { execFileSync } from "node:child_process"
import * as NodeFs from "node:fs"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { nodeTreeFs, type TreeFs } from "../../src/adapters/TreeFs.ts"
import { appLayer } from "../../src/cli/AppLayer.ts"
import { Engine } from "../../src/services/EngineApi.ts"
import { ALPHA, install, readConfig, readLog, withEngine, worldScoped } from "../support/LedgerWorld.ts"

describe("records lost from the end of the log", () => {
  it.live("the ledger refuses writes and leaves config.toml and the cache as they are; reads still work", () =>
    Effect.gen(function*() {
      const world = yield* worldScoped
      yield* withEngine(world, (engine) =>
        Effect.gen(function*() {
          yield* install(engine, world, "alpha")
          yield* engine.setEnabled({ pluginId: ALPHA, enabled: false }, { actor: "cli" })
        }))
      const dir = Path.join(world.paths.ledgerDir, "events")
      const segment = Path.join(dir, NodeFs.readdirSync(dir)[0] ?? "")
      const lines = NodeFs.readFileSync(segment, "utf8").split("\n").filter((l) => l !== "")
      // the last committed record (the disable) is gone, cleanly: the shorter log is valid on its own
      NodeFs.writeFileSync(segment, `${lines.slice(0, -1).join("\n")}\n`)
      const config = readConfig(world)
      const outcome = yield* withEngine(world, (engine) =>
        Effect.gen(function*() {
          const history = yield* engine.history({})
          const refused = yield* Effect.flip(engine.setEnabled({ pluginId: ALPHA, enabled: true }, { actor: "cli" }))
          return { history, refused }
        }))
      assert.deepStrictEqual(outcome.history.map((e) => e.seq), [1, 2], "reads answer from the log as it is")
      assert.match(outcome.refused.message, /the log ends at seq 2, but config\.toml and the plugin cache were projected from records up to seq 3/)
      assert.strictEqual(readConfig(world), config, "config.toml not rebuilt from the shorter log")
      assert.include(config, "enabled = false")
      assert.strictEqual(readLog(world).length, 2, "nothing appended")
    }))

  it.live("another process's command between this one reading the log and its checkpoint is no lost record", () =>
    Effect.gen(function*() {
      const world = yield* worldScoped
      yield* withEngine(world, (engine) => install(engine, world, "alpha"))
      // the first look at checkpoint.json comes after this process read the log at open: right then, another
      // process (the real CLI) appends a record and advances the checkpoint past what this one read
      let other: string | undefined
      const fs: TreeFs = {
        ...nodeTreeFs,
        readFileSync: (path) => {
          if (other === undefined && path === world.paths.checkpointPath) {
            other = execFileSync(process.execPath, [Path.resolve("src/cli/main.ts"), "disable", ALPHA], {
              env: { ...process.env, CODEX_HOME: world.paths.codexHome, HOME: world.paths.home },
              encoding: "utf8"
            })
          }
          return nodeTreeFs.readFileSync(path)
        }
      }
      const enabled = yield* Engine.use((engine) => engine.setEnabled({ pluginId: ALPHA, enabled: true }, { actor: "cli" })).pipe(
        Effect.provide(appLayer(world.paths, { fs }))
      )
      assert.isDefined(other, "the other process ran in between")
      assert.deepStrictEqual(readLog(world).map((line) => line.type).slice(-2), ["PluginDisabled", "PluginEnabled"])
      assert.isDefined(enabled)
      assert.include(readConfig(world), "enabled = true")
    }))
})
