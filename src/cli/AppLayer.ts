import * as NodeServices from "@effect/platform-node/NodeServices"
import { Layer } from "effect"
import { LedgerFs } from "../adapters/LedgerFs.ts"
import { PluginBundle } from "../adapters/PluginBundle.ts"
import { Catalog } from "../services/Catalog.ts"
import { EngineLayer } from "../services/Engine.ts"
import { EventLog } from "../services/EventLog.ts"
import { LedgerConfig, type LedgerPaths } from "../services/LedgerConfig.ts"
import { MarketplaceDiscovery } from "../services/MarketplaceDiscovery.ts"
import { Projector } from "../services/Projector.ts"

/** Everything a command or the server needs, for one CODEX_HOME. */
export const appLayer = (paths: LedgerPaths) => {
  const base = Layer.mergeAll(LedgerConfig.layer(paths), LedgerFs.layer, NodeServices.layer)
  const log = EventLog.layer({ ledgerDir: paths.ledgerDir })
  const projector = Projector.layer.pipe(Layer.provide(base))
  const catalog = Catalog.layer.pipe(
    Layer.provide(Layer.mergeAll(MarketplaceDiscovery.layer, PluginBundle.layer)),
    Layer.provide(base)
  )
  return EngineLayer.pipe(Layer.provide(Layer.mergeAll(log, projector, catalog, base)))
}
