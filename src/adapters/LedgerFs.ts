import { Context, Layer } from "effect"
import { stopOnFsyncFailure } from "./StopOnFsyncFailure.ts"
import { nodeTreeFs, type TreeFs } from "./TreeFs.ts"

/**
 * The one file-system port the ledger writes through, so tests can inject faults everywhere at once. Each build
 * wraps it anew in `stopOnFsyncFailure`: after a failed fsync that process writes nothing more.
 */
export class LedgerFs extends Context.Service<LedgerFs, TreeFs>()("plugin-ledger/adapters/LedgerFs") {
  static readonly layerWith = (fs: TreeFs): Layer.Layer<LedgerFs> => Layer.sync(LedgerFs, () => stopOnFsyncFailure(fs))
  static readonly layer: Layer.Layer<LedgerFs> = LedgerFs.layerWith(nodeTreeFs)
}
