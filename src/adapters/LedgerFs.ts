import { Context, Layer } from "effect"
import { nodeTreeFs, type TreeFs } from "./TreeFs.ts"

/** The one file-system port the ledger writes through, so tests can inject faults everywhere at once. */
export class LedgerFs extends Context.Service<LedgerFs, TreeFs>()("plugin-ledger/adapters/LedgerFs") {
  static readonly layer: Layer.Layer<LedgerFs> = Layer.succeed(LedgerFs, nodeTreeFs)
  static readonly layerWith = (fs: TreeFs): Layer.Layer<LedgerFs> => Layer.succeed(LedgerFs, fs)
}
