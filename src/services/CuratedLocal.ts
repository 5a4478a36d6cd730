/**
 * What the curated syncs read locally, and the installs they store: the curated marketplace of the mirror
 * (`.tmp/plugins`), the mirror sha, what the cache and config.toml say about each curated plugin, and curated
 * installs (source tree read and stored durably as blobs, so the `PluginInstalled` it returns can be projected from
 * the log and the blobs alone, in the sha version dir).
 */
import { Effect, Result } from "effect"
import * as Path from "node:path"
import type { BlobStore } from "../adapters/BlobStore.ts"
import { type ParsedConfig, parseConfig } from "../adapters/ConfigToml.ts"
import { describeError, errnoCode } from "../adapters/FsPort.ts"
import { isDirectory } from "../adapters/FsQueries.ts"
import { readRegularFile } from "../adapters/ReadRegularFile.ts"
import { readSource, storeSource } from "../adapters/TreeBlob.ts"
import type { TreeFs } from "../adapters/TreeFs.ts"
import { type EventCause, PluginInstalled } from "../domain/Events.ts"
import { isListedForProduct, type Marketplace, parseMarketplace, type ResolvedPluginEntry } from "../domain/Marketplace.ts"
import { makePluginId } from "../domain/PluginId.ts"
import { firstOfEachName, type ObservedCuratedPlugin } from "../domain/RemoteSync.ts"
import type { LedgerPaths } from "./LedgerPaths.ts"

export const curatedMarketplacePath = (paths: LedgerPaths): string =>
  Path.join(paths.curatedRoot, ".agents", "plugins", "marketplace.json")

/** The mirror's marketplace, or the reference's text when it is missing (or ours, when it does not parse). */
export const loadCuratedMarketplace = (fs: TreeFs, paths: LedgerPaths): Result.Result<Marketplace, string> => {
  const path = curatedMarketplacePath(paths)
  let text: string
  try {
    text = readRegularFile(fs, path).toString("utf8")
  } catch (error) {
    return Result.fail(errnoCode(error) === "ENOENT" ? "local curated marketplace is not available" : describeError(error))
  }
  return Result.mapError(parseMarketplace(path, text), (e) => e.message)
}

/** The mirror sha when it can name a version dir (Codex's version-segment rule), else undefined. */
export const usableSha = (fs: TreeFs, paths: LedgerPaths): string | undefined => {
  let text: string
  try {
    text = readRegularFile(fs, paths.curatedShaPath).toString("utf8").trim()
  } catch {
    return undefined
  }
  return /^[A-Za-z0-9.+_-]+$/.test(text) && text !== "." && text !== ".." ? text : undefined
}

/** The reference's active version: `local`, else a dir named by a 40-hex sha (curated installs). */
export const activeVersion = (fs: TreeFs, pluginDir: string): string | undefined => {
  if (isDirectory(fs, Path.join(pluginDir, "local"))) return "local"
  let names: ReadonlyArray<string>
  try {
    names = fs.readdirSync(pluginDir)
  } catch {
    return undefined
  }
  return [...names].sort().find((name) => /^[0-9a-f]{40}$/.test(name) && isDirectory(fs, Path.join(pluginDir, name)))
}

export const parsedConfigOf = (text: string): ParsedConfig | undefined => {
  const parsed = parseConfig(text)
  return Result.isSuccess(parsed) ? parsed.success : undefined
}

export interface CuratedPlugin {
  readonly entry: ResolvedPluginEntry
  readonly observed: ObservedCuratedPlugin
}

/** The curated plugins the syncs consider (first entry of each name, listed for the app-server, valid ids), observed. */
export const observeCurated = (
  fs: TreeFs,
  marketplace: Marketplace,
  config: ParsedConfig | undefined,
  pluginDir: (pluginId: string) => string
): ReadonlyArray<CuratedPlugin> =>
  firstOfEachName(marketplace.plugins.filter((entry) => isListedForProduct(entry))).flatMap((entry) => {
    const id = makePluginId(entry.name, marketplace.name)
    if (Result.isFailure(id)) return []
    const table = config?.plugins.get(id.success.id)
    return [{
      entry,
      observed: {
        pluginId: id.success.id,
        name: entry.name,
        sourcePath: entry.sourceDir,
        installed: activeVersion(fs, pluginDir(id.success.id)) !== undefined,
        configured: table !== undefined,
        enabled: table?.enabled ?? null
      }
    }]
  })

/**
 * A curated install at the mirror sha: the source dir must be a directory (the reference's store error otherwise);
 * its tree is stored durably before the returned event can be appended.
 */
export const storeCuratedInstall = (
  fs: TreeFs,
  blobs: BlobStore,
  marketplace: Marketplace,
  entry: ResolvedPluginEntry,
  pluginId: string,
  sha: string,
  cause: EventCause
): Effect.Effect<PluginInstalled, string> =>
  Effect.gen(function*() {
    if (!isDirectory(fs, entry.sourceDir)) return yield* Effect.fail(`plugin source path is not a directory: ${entry.sourceDir}`)
    const tree = yield* Effect.try({ try: () => readSource(fs, blobs, entry.sourceDir), catch: (e) => `failed to install plugin: ${describeError(e)}` })
    yield* storeSource(blobs, tree).pipe(Effect.mapError((e) => `failed to install plugin: ${describeError(e)}`))
    return new PluginInstalled({
      pluginId,
      pluginName: entry.name,
      marketplaceName: marketplace.name,
      marketplacePath: marketplace.path,
      sourcePath: entry.sourceDir,
      version: sha,
      treeHash: tree.treeHash,
      installPolicy: entry.installPolicy,
      authPolicy: entry.authPolicy,
      cause
    })
  })
