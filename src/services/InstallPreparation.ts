/**
 * An install's work before its lock: the plan resolved and checked (InstallPlan.ts), the source read and hashed, and
 * its blobs appended to the pack with their fdatasync issued. Nothing is recorded here: the Engine decides and
 * appends under the lock, awaiting `blobsDurable` right before the append.
 */
import { type Context, Effect, Result, type Scope } from "effect"
import * as Path from "node:path"
import { pidSuffix } from "../adapters/AtomicFile.ts"
import type { BlobStore } from "../adapters/BlobStore.ts"
import { describeError } from "../adapters/FsPort.ts"
import { rustIoError } from "../adapters/RustIoError.ts"
import { readSource, type SourceTree, storeSourceStarted } from "../adapters/TreeBlob.ts"
import type { TreeFs } from "../adapters/TreeFs.ts"
import { InstallPlugin } from "../domain/Commands.ts"
import type { EventCause } from "../domain/Events.ts"
import { MANIFEST_PATH } from "../domain/Manifest.ts"
import { type EngineError, internalError } from "./EngineApi.ts"
import { type KnownMarketplace, resolveInstallPlan } from "./InstallPlan.ts"
import type { LedgerPaths } from "./LedgerPaths.ts"

/** Linux NAME_MAX (255 bytes a component) and PATH_MAX (4096 bytes with the NUL). */
const tooLongForTheFileSystem = (path: string): boolean =>
  Buffer.byteLength(path) >= 4096 || path.split(Path.sep).some((part) => Buffer.byteLength(part) > 255)

export interface InstallPreparationDeps {
  readonly fs: TreeFs
  readonly paths: LedgerPaths
  readonly blobs: BlobStore
  /** the plugin's cache dir (`Projector.pluginDir`) */
  readonly pluginDir: (pluginId: string) => string
  /** marketplace files a listing parsed already (`Catalog.knownMarketplace`) */
  readonly knownMarketplace?: KnownMarketplace
}

export interface PreparedInstall {
  readonly command: InstallPlugin
  /** the source as read: what the projection stages and the blobs hold */
  readonly tree: SourceTree
  /** config.toml as the plan read it, for the projection to stage its edit */
  readonly configText: string
  /** the blobs made durable: awaited before the event is appended */
  readonly blobsDurable: Effect.Effect<void, EngineError>
}

/**
 * Resolves and validates what to install, reads its tree and starts storing its blobs (held by `scope`, their
 * settle forked with `context`). Synchronous: it runs inside the install's step (a generator of attempts was a
 * runtime op per stage).
 */
export const prepareInstall = (
  deps: InstallPreparationDeps,
  input: { readonly marketplacePath: string; readonly pluginName: string; readonly forceRemoteSync: boolean },
  cause: EventCause,
  scope: Scope.Scope,
  context: Context.Context<never>
): Result.Result<PreparedInstall, EngineError> => {
  const { fs, paths, blobs } = deps
  const plan = resolveInstallPlan(fs, paths, input, deps.knownMarketplace)
  if (Result.isFailure(plan)) return Result.fail(plan.failure)
  const { entry, pluginId, version, configText, manifestFile, realSourceDir } = plan.success
  // a cache dir the file system cannot create would fail the projection after the event is recorded, and
  // every later one with it: refuse it first, as the reference's copy fails (the tree is built in a
  // `.staging-<name>-<pid>-<hex>` sibling, a longer name than the dir itself)
  const target = deps.pluginDir(pluginId.id)
  const staging = Path.join(Path.dirname(target), `.staging-${Path.basename(target)}-${pidSuffix()}`)
  if (tooLongForTheFileSystem(Path.join(target, version)) || tooLongForTheFileSystem(staging)) {
    return Result.fail(internalError(`failed to install plugin: ${rustIoError({ code: "ENAMETOOLONG" })}`))
  }
  // the manifest as the plan read it: the tree's copy is the one validated, and the file is not read twice
  const read = manifestFile === undefined ? undefined : new Map([[MANIFEST_PATH, manifestFile]])
  const failed = (e: unknown) => internalError(`failed to install plugin: ${describeError(e)}`)
  const started = Result.try({
    try: () => {
      // the dir the plan checked, read without going through a symlink (one swapped in since is refused or left out)
      const tree = readSource(fs, blobs, entry.sourceDir, { read, realRoot: realSourceDir })
      // the blobs are durable before anything can record the tree hash (a replay needs them): appended to the blob
      // pack here, its fdatasync issued; the wait for it overlaps building the tree, taking the lock and deciding,
      // and is awaited right before the append
      return { tree, stored: storeSourceStarted(blobs, tree, scope, context) }
    },
    catch: failed
  })
  if (Result.isFailure(started)) return Result.fail(started.failure)
  const { tree, stored } = started.success
  const command = new InstallPlugin({
    pluginId: pluginId.id,
    pluginName: entry.name,
    marketplaceName: pluginId.marketplaceName,
    marketplacePath: input.marketplacePath,
    sourcePath: entry.sourceDir,
    version,
    treeHash: tree.treeHash,
    installPolicy: entry.installPolicy,
    authPolicy: entry.authPolicy,
    cause
  })
  return Result.succeed({ command, tree, configText, blobsDurable: Effect.mapError(stored, failed) })
}
