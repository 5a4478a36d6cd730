import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import { Layer } from "effect"
import { LedgerFs } from "../adapters/LedgerFs.ts"
import { PluginBundle } from "../adapters/PluginBundle.ts"
import { CapabilitiesService } from "../services/Capabilities.ts"
import { CapabilityFeed } from "../services/CapabilityFeed.ts"
import { Catalog } from "../services/Catalog.ts"
import { EngineLayer } from "../services/Engine.ts"
import { EventLog } from "../services/EventLog.ts"
import { LedgerConfig } from "../services/LedgerConfig.ts"
import { type LedgerPaths } from "../services/LedgerPaths.ts"
import { LogTailer } from "../services/LogTailer.ts"
import { type EarlyListing, MarketplaceWatcher } from "../services/MarketplaceWatcher.ts"
import { PathWatch } from "../services/PathWatch.ts"
import { ProcessHost } from "../services/ProcessHost.ts"
import { SettleDelay } from "../services/ProjectionDurability.ts"
import { Projector } from "../services/Projector.ts"

/**
 * How long a projection's settle waits (`SettleDelay`): long enough for the client to read its answer and act on
 * it before the settle's fsyncs and CPU compete for the cores; short enough that the checkpoint lags by no more
 * than a blink. Measured on the install benchmark (2 vCPUs), paired: 0.95x of settling at once.
 */
const SETTLE_DELAY_MS = 10

/**
 * `appLayer` for a long-running process (`serve`, `daemon`): the same Engine, plus the file watch, the log tailer
 * (whose EventLog the Engine appends through, so its own appends are published at once) and the marketplace
 * watcher (whose discovery the Catalog lists through; `listed`: `serve` listed before the engine was loaded, and the
 * watcher takes over that listing's discovery).
 */
export const daemonLayer = (paths: LedgerPaths, listed?: EarlyListing) => {
  const base = Layer.mergeAll(LedgerConfig.layer(paths), LedgerFs.layer, NodeFileSystem.layer, NodePath.layer)
  const watch = PathWatch.layer
  const log = LogTailer.layer.pipe(
    // on the ledger's file system, as in `appLayer`: one fsync-failure stop for the log and the projections, and the
    // lock's temp file from the same spare inodes
    Layer.provide(EventLog.layerLedgerFs({ ledgerDir: paths.ledgerDir })),
    Layer.provide(Layer.mergeAll(watch, base))
  )
  const marketplaces = MarketplaceWatcher.layerAfter(listed).pipe(Layer.provide(Layer.mergeAll(watch, base)))
  const projector = Projector.layer.pipe(Layer.provide(Layer.mergeAll(base, log, Layer.succeed(SettleDelay, SETTLE_DELAY_MS))))
  const catalog = Catalog.layer.pipe(
    Layer.provide(Layer.mergeAll(marketplaces, PluginBundle.layer)),
    Layer.provide(base)
  )
  const engine = EngineLayer.pipe(Layer.provide(Layer.mergeAll(log, projector, catalog, base)))
  const processHost = ProcessHost.layerOnFirstUse().pipe(Layer.provide(Layer.mergeAll(log, projector, base)))
  const capabilities = CapabilitiesService.layer.pipe(Layer.provide(Layer.mergeAll(log, PluginBundle.layer.pipe(Layer.provide(base)), base)))
  const feed = CapabilityFeed.layer.pipe(Layer.provide(Layer.mergeAll(capabilities, log, watch, base)))
  return Layer.mergeAll(engine, processHost, log, marketplaces, watch, base, capabilities, feed)
}
