/**
 * `ProcessHost.layerOnFirstUse` (serve, daemon): the host is built by the first request that needs it, from the same
 * implementation as `ProcessHost.layer`; settings in the environment are still checked when the layer is built.
 */
import * as NodeServices from "@effect/platform-node/NodeServices"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Layer } from "effect"
import { LedgerFs } from "../../src/adapters/LedgerFs.ts"
import { EventLog } from "../../src/services/EventLog.ts"
import { LedgerConfig } from "../../src/services/LedgerConfig.ts"
import type { LedgerPaths } from "../../src/services/LedgerPaths.ts"
import { ProcessHost, type ProcessHostOptions } from "../../src/services/ProcessHost.ts"
import { Projector } from "../../src/services/Projector.ts"
import { addFixture, baseOptions, logRecords, tempHome } from "../support/ProcessHostKit.ts"

const onFirstUse = (paths: LedgerPaths, options: ProcessHostOptions) => {
  const base = Layer.mergeAll(LedgerConfig.layer(paths), LedgerFs.layer, NodeServices.layer)
  const log = EventLog.layerLedgerFs({ ledgerDir: paths.ledgerDir }).pipe(Layer.provide(base))
  const projector = Projector.layer.pipe(Layer.provide(Layer.mergeAll(base, log)))
  return ProcessHost.layerOnFirstUse(options).pipe(Layer.provide(Layer.mergeAll(log, projector, base)))
}

describe("ProcessHost.layerOnFirstUse", () => {
  it.live("given bad settings in the environment then the layer fails at once, naming them", () =>
    Effect.gen(function*() {
      const paths = tempHome()
      const exit = yield* Effect.exit(Effect.scoped(Layer.build(onFirstUse(paths, { env: { PLUGIN_LEDGER_PROCESS_TIMEOUT: "0" } }))))
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isFailure(exit)) assert.include(String(exit.cause), "PLUGIN_LEDGER_PROCESS_TIMEOUT must be a number of seconds > 0")
    }))

  it.live("given requests then the first builds the host and every one is served by it", () =>
    Effect.gen(function*() {
      const paths = tempHome()
      const names = yield* Effect.gen(function*() {
        const host = yield* ProcessHost
        // two first requests at once, both waiting for the one build
        yield* Effect.all([addFixture(host, "one"), addFixture(host, "two")], { concurrency: 2 })
        return (yield* host.list).map((p) => p.name)
      }).pipe(Effect.provide(onFirstUse(paths, baseOptions)), Effect.scoped)
      assert.deepStrictEqual(names, ["one", "two"])
      assert.deepStrictEqual(logRecords(paths).map((r) => r.type).filter((t) => t.startsWith("ProcessPlugin")), [
        "ProcessPluginAdded",
        "ProcessPluginAdded"
      ])
    }))
})
