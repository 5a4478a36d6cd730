import * as NodeServices from "@effect/platform-node/NodeServices"
import { Layer } from "effect"
import { LedgerFs } from "../adapters/LedgerFs.ts"
import { EventLog } from "../services/EventLog.ts"
import { LedgerConfig } from "../services/LedgerConfig.ts"
import { type LedgerPaths } from "../services/LedgerPaths.ts"
import { ProcessHost, type ProcessHostOptions } from "../services/ProcessHost.ts"
import { Projector } from "../services/Projector.ts"

/** The process-plugin host for one CODEX_HOME, for `plugin-ledger process ...` (no Engine, no watchers). */
export const processLayer = (paths: LedgerPaths, options: ProcessHostOptions = {}) => {
  const base = Layer.mergeAll(LedgerConfig.layer(paths), LedgerFs.layer, NodeServices.layer)
  const log = EventLog.layerLedgerFs({ ledgerDir: paths.ledgerDir }).pipe(Layer.provide(base))
  const projector = Projector.layer.pipe(Layer.provide(Layer.mergeAll(base, log)))
  return ProcessHost.layer(options).pipe(Layer.provide(Layer.mergeAll(log, projector, base)))
}
