import { Context, Layer } from "effect"
import { type LedgerPaths, pathsFromEnv } from "./LedgerPaths.ts"

export class LedgerConfig extends Context.Service<LedgerConfig, LedgerPaths>()("plugin-ledger/services/LedgerConfig") {
  static readonly layer = (paths: LedgerPaths): Layer.Layer<LedgerConfig> => Layer.succeed(LedgerConfig, paths)
  static readonly layerFromEnv: Layer.Layer<LedgerConfig> = Layer.sync(LedgerConfig, () => pathsFromEnv())
}
