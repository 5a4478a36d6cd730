/**
 * checkpoint.json is read once per command under the lock: what `Projector.checkpoint` read to decide, in the same
 * hold of the lock, is what the projection after the append starts from (`LockHold`). Never across holds, never from
 * outside a hold, and never after a projection of the same hold (whose settle may have written the file).
 */
import * as NodeFs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { LedgerFs } from "../../src/adapters/LedgerFs.ts"
import { nodeTreeFs, type TreeFs } from "../../src/adapters/TreeFs.ts"
import { EventLog } from "../../src/services/EventLog.ts"
import { LedgerConfig } from "../../src/services/LedgerConfig.ts"
import { type LedgerPaths, makeLedgerPaths } from "../../src/services/LedgerPaths.ts"
import { Projector } from "../../src/services/Projector.ts"

const homeScoped = Effect.acquireRelease(
  Effect.sync(() => NodeFs.mkdtempSync(Path.join(Os.tmpdir(), "checkpoint-hold-"))),
  (root) => Effect.sync(() => NodeFs.rmSync(root, { recursive: true, force: true }))
)

/** the real fs, counting the reads of checkpoint.json (ENOENT included) */
const counting = (paths: LedgerPaths): { readonly fs: TreeFs; readonly reads: () => number } => {
  let reads = 0
  const fs: TreeFs = {
    ...nodeTreeFs,
    readFileSync: (path) => {
      if (path === paths.checkpointPath) reads++
      return nodeTreeFs.readFileSync(path)
    }
  }
  return { fs, reads: () => reads }
}

const layerFor = (paths: LedgerPaths, fs: TreeFs) => {
  const base = Layer.mergeAll(LedgerConfig.layer(paths), LedgerFs.layerWith(fs))
  const log = EventLog.layer({ ledgerDir: paths.ledgerDir, fs })
  return Layer.mergeAll(log, Projector.layer.pipe(Layer.provide(Layer.mergeAll(base, log))))
}

const nothing = { append: [], value: undefined }

describe("checkpoint.json within one hold of the lock", () => {
  it.live("a command's decision and its projection share one read; other holds, and reads outside a hold, do not", () =>
    Effect.gen(function*() {
      const root = yield* homeScoped
      const paths = makeLedgerPaths({ codexHome: Path.join(root, "home"), home: root })
      const { fs, reads } = counting(paths)
      yield* Effect.gen(function*() {
        const log = yield* EventLog
        const projector = yield* Projector
        const readsOf = <A, E>(effect: Effect.Effect<A, E>) =>
          Effect.gen(function*() {
            const before = reads()
            yield* Effect.ignore(effect)
            return reads() - before
          })
        const decideReading = Effect.as(projector.checkpoint, nothing)
        const catchUp = log.transact(() => Effect.succeed(nothing), (_, all) => projector.project(all))
        // the first projection of a new ledger commits its checkpoint at once (and reads it for that commit); from
        // then on nothing is pending, so projections here only read it to find so
        yield* catchUp

        // decided on it, then projected in the same hold: one read
        assert.strictEqual(yield* readsOf(log.transact(() => decideReading, (_, all) => projector.project(all))), 1)
        // a second projection in that hold reads again (the first one's settle may have written the file)
        assert.strictEqual(
          yield* readsOf(log.transact(() => decideReading, (_, all) => Effect.andThen(projector.project(all), projector.project(all)))),
          2
        )
        // read in a hold whose command was refused: the next hold's projection reads for itself
        assert.strictEqual(yield* readsOf(log.transact(() => Effect.andThen(projector.checkpoint, Effect.fail("refused")))), 1)
        assert.strictEqual(yield* readsOf(catchUp), 1)
        // read outside any hold: the projection under the lock reads for itself
        assert.strictEqual(yield* readsOf(projector.checkpoint), 1)
        assert.strictEqual(yield* readsOf(catchUp), 1)
      }).pipe(Effect.provide(layerFor(paths, fs)))
    }))
})
