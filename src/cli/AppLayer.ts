import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import { Layer } from "effect"
import type { LockHost } from "../adapters/LockOwner.ts"
import { LedgerFs } from "../adapters/LedgerFs.ts"
import { PluginBundle } from "../adapters/PluginBundle.ts"
import { nodeTreeFs, type TreeFs } from "../adapters/TreeFs.ts"
import { Catalog } from "../services/Catalog.ts"
import { EngineLayer } from "../services/Engine.ts"
import { EventLog } from "../services/EventLog.ts"
import { LedgerConfig } from "../services/LedgerConfig.ts"
import { type LedgerPaths } from "../services/LedgerPaths.ts"
import { MarketplaceDiscovery } from "../services/MarketplaceDiscovery.ts"
import { Projector } from "../services/Projector.ts"

/**
 * Everything a command or the server needs, for one CODEX_HOME. The log and the projections share one file-system
 * port (`fs`; tests pass a fault-injecting one) and `lockHost` says who holds the lock (tests simulate restarts).
 */
export const appLayer = (paths: LedgerPaths, options: { readonly fs?: TreeFs; readonly lockHost?: LockHost } = {}) => {
  const base = Layer.mergeAll(LedgerConfig.layer(paths), LedgerFs.layerWith(options.fs ?? nodeTreeFs), NodeFileSystem.layer, NodePath.layer)
  const log = EventLog.layerLedgerFs({
    ledgerDir: paths.ledgerDir,
    ...(options.lockHost === undefined ? {} : { lockHost: options.lockHost })
  }).pipe(Layer.provide(base))
  const projector = Projector.layer.pipe(Layer.provide(Layer.mergeAll(base, log)))
  const catalog = Catalog.layer.pipe(
    Layer.provide(Layer.mergeAll(MarketplaceDiscovery.layer, PluginBundle.layer)),
    Layer.provide(base)
  )
  // the Projector is in the output too (the same one the Engine uses): tests wait on its `settled`
  return EngineLayer.pipe(Layer.provide(Layer.mergeAll(log, catalog, base)), Layer.provideMerge(projector))
}
