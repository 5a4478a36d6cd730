/**
 * What an install builds ahead of its event, while its blobs are made durable, the lock taken and the command
 * decided: the cache tree in a staging dir beside its target, and config.toml's next text in a fsynced temp file.
 * The projection of the matching event takes them (`takeTree`, `takeConfig`) and only renames them in; what no
 * projection takes is removed when the install's scope closes.
 */
import { Effect, Fiber, Result, Scope } from "effect"
import { discardStaged, type StagedFile, stageFile } from "../adapters/AtomicFile.ts"
import { replacePluginTable } from "../adapters/ConfigToml.ts"
import { discardPrepared, type PreparedTree, prepareTree } from "../adapters/TreeStaging.ts"
import type { SparePool } from "../adapters/SparePool.ts"
import type { SourceTree } from "../adapters/TreeBlob.ts"
import type { TreeFs } from "../adapters/TreeFs.ts"

export interface StagedOutputs {
  /** `Projector.prepare`, which is this (its contract is documented there) */
  readonly prepare: (pluginId: string, version: string, source: SourceTree, configText: string) => Effect.Effect<void, never, Scope.Scope>
  /** a tree built for this target, tree hash and version, taken: from now on only the taker may remove it */
  readonly takeTree: (target: string, treeHash: string, version: string) => PreparedTree | undefined
  /** the fiber staging this text of config.toml, taken: from now on only the taker may remove its temp file */
  readonly takeConfig: (text: string) => Fiber.Fiber<StagedFile, unknown> | undefined
}

export interface StagedOutputsDeps {
  readonly fs: TreeFs
  readonly configPath: string
  /** spare inodes for the trees and the temp files (`SparePool.ts`) */
  readonly spares: SparePool
  /** the marketplace cache dirs trees were built in (see `BuildOptions.knownParents`) */
  readonly cacheParents: Set<string>
  readonly pluginDir: (pluginId: string) => string
}

const pushTo = <A>(map: Map<string, Array<A>>, key: string, value: A): void => {
  map.set(key, [...(map.get(key) ?? []), value])
}
/** takes one entry (any: they are interchangeable) out of the map */
const takeFrom = <A>(map: Map<string, Array<A>>, key: string): A | undefined => {
  const list = map.get(key)
  const taken = list?.shift()
  if (list !== undefined && list.length === 0) map.delete(key)
  return taken
}
/** removes this entry if still in the map (not taken): true if it was */
const removeFrom = <A>(map: Map<string, Array<A>>, key: string, value: A): boolean => {
  const list = map.get(key)
  const index = list?.indexOf(value) ?? -1
  if (list === undefined || index === -1) return false
  list.splice(index, 1)
  if (list.length === 0) map.delete(key)
  return true
}

export const makeStagedOutputs = (deps: StagedOutputsDeps): StagedOutputs => {
  const { fs, configPath, spares, cacheParents, pluginDir } = deps
  /** Trees built ahead of their events, by target, tree hash and version (identical content: any will do). */
  const preparedTrees = new Map<string, Array<PreparedTree>>()
  const preparedKey = (target: string, treeHash: string, version: string) => `${target}\n${treeHash}\n${version}`
  /**
   * config.toml texts staged ahead of their events, by text: the fiber writing the temp file and fsyncing it. The
   * command does not wait for that fsync before it takes the lock and decides; the projection joins it, as it
   * renames the file in only once the fsync is through.
   */
  const stagedConfigs = new Map<string, Array<Fiber.Fiber<StagedFile, unknown>>>()

  /**
   * Builds the cache tree ahead of its event and files it for the projection to take; returns what discards it
   * if no projection took it. A failure to build is not one: the projection then builds it itself. Synchronous
   * (`prepareTree` is), so it adds no runtime step to `prepare`.
   */
  const prepareCache = (target: string, source: SourceTree, version: string): () => void => {
    const key = preparedKey(target, source.treeHash, version)
    const built = Result.try(() => prepareTree(fs, source.tree, target, { under: version, pool: spares, knownParents: cacheParents }))
    if (Result.isFailure(built)) return () => {}
    const prepared = built.success
    pushTo(preparedTrees, key, prepared)
    return () => {
      if (removeFrom(preparedTrees, key, prepared)) discardPrepared(fs, prepared)
    }
  }

  /**
   * Stages config.toml's next text: written and its fsync issued before this returns, the rest in a fiber of
   * `scope` (uninterruptible: closing the scope waits for it) filed under the text. Returns what, untaken when the
   * scope closes, waits for it and removes its temp file. A failure is not one: the projection that joins it
   * stages the text itself then.
   */
  const prepareConfig = (text: string, scope: Scope.Scope): Effect.Effect<Effect.Effect<void>> =>
    Effect.map(
      Effect.forkIn(stageFile(fs, configPath, Buffer.from(text, "utf8"), 0o600, spares), scope, { startImmediately: true, uninterruptible: true }),
      (fiber) => {
        pushTo(stagedConfigs, text, fiber)
        return Effect.suspend(() =>
          removeFrom(stagedConfigs, text, fiber)
            ? Fiber.join(fiber).pipe(Effect.flatMap((staged) => Effect.sync(() => discardStaged(fs, staged))), Effect.ignore)
            : Effect.void
        )
      }
    )

  // suspended: the config.toml edit (CPU, ~0.5 ms on a config of 30 plugins) runs once the caller's blob writes
  // have their fsyncs on the way, not when the caller builds its effects. Held by the scope through one finalizer
  // that discards whatever no projection took (added uninterruptibly with what it undoes, as `acquireRelease`
  // would, at a third of its runtime steps)
  const prepare = (pluginId: string, version: string, source: SourceTree, configText: string): Effect.Effect<void, never, Scope.Scope> =>
    Effect.uninterruptible(Effect.flatMap(Scope.Scope, (scope) => {
      const target = pluginDir(pluginId)
      // what the install's projection will write, if config.toml does not change before it
      const edited = replacePluginTable(configText, pluginId, true)
      const config = Result.isSuccess(edited) && edited.success !== configText ? edited.success : undefined
      const hold = (unstage: Effect.Effect<void>) => {
        const uncache = prepareCache(target, source, version)
        return Scope.addFinalizer(scope, Effect.suspend(() => {
          uncache()
          return unstage
        }))
      }
      // config.toml's temp file first, so its fsync is on its way while the tree is built, the lock taken and the
      // command decided (in a CODEX_HOME that does not exist yet the temp file cannot be made: the projection
      // creates the dir and writes it then). One after the other: the first returns once its fsync is issued
      return config === undefined ? hold(Effect.void) : Effect.flatMap(prepareConfig(config, scope), hold)
    }))

  return {
    prepare,
    takeTree: (target, treeHash, version) => takeFrom(preparedTrees, preparedKey(target, treeHash, version)),
    takeConfig: (text) => takeFrom(stagedConfigs, text)
  }
}
