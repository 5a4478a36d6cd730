/**
 * The loading side of marketplace discovery (MarketplaceDiscovery.ts): marketplace files parsed and plugin manifests
 * read, each kept between calls (ListingCache) while the file-system lookups it was decided from hold, taken over from
 * and saved to the discovery snapshot (DiscoverySnapshot.ts) when there is one.
 */
import { Result } from "effect"
import { errnoCode } from "../adapters/FsPort.ts"
import { readManifestSync } from "../adapters/ManifestFile.ts"
import { readUtf8File } from "../adapters/ReadUtf8File.ts"
import { rustIoError } from "../adapters/RustIoError.ts"
import { observe } from "../adapters/StatSignature.ts"
import type { PluginManifestInterface } from "../domain/Manifest.ts"
import { isListedForProduct, type Marketplace, MarketplaceError, parseMarketplace, type ResolvedPluginEntry } from "../domain/Marketplace.ts"
import type { DiscoverySnapshot, SnapshotSource } from "./DiscoverySnapshot.ts"
import { type CacheWatch, type Computed, ListingCache } from "./ListingCache.ts"
import { marketplaceFragment } from "./ListingFragments.ts"
import type { LoadedMarketplace, LoadedPlugin, LoadResult, MarketplaceLoadError } from "./MarketplaceDiscovery.ts"
import { loadedPlugin } from "./PluginListing.ts"

/**
 * Marketplace and manifest results are kept only once their files are this old when their timestamps are whole
 * seconds (a file system that may keep two-second ones), `FINE_SETTLE_MS` when they are finer (see `isSettled`).
 */
export const SETTLE_MS = 2_000
const MAX_CACHED_MARKETPLACES = 1_000
const MAX_CACHED_MANIFESTS = 50_000

/** Reads and resolves one marketplace file; the result depends on that file only (followed if it is a symlink). */
const readMarketplace = (file: string): Computed<Result.Result<Marketplace, MarketplaceError>> => {
  const observation = observe(file, true)
  const observations = [observation]
  let text: string | undefined
  try {
    text = readUtf8File(file, { noFollow: false })
  } catch (error) {
    const failure = errnoCode(error) === "ENOENT" ? MarketplaceError.notFound(file) : MarketplaceError.io(file, rustIoError(error))
    return { value: Result.fail(failure), observations }
  }
  if (text === undefined) return { value: Result.fail(MarketplaceError.io(file, "stream did not contain valid UTF-8")), observations }
  return { value: parseMarketplace(file, text), observations }
}

/** All a listing takes from a manifest: its interface (null: none, or no manifest, or an invalid one). */
const readManifest = (root: string): Computed<PluginManifestInterface | null> => {
  const read = readManifestSync(root)
  return { value: read.decoded?.manifest.interface ?? null, observations: read.observations }
}

/**
 * The loading side of discovery, with what it read kept between calls: a marketplace file's parse while the file is
 * unchanged, a plugin's manifest while the lookups that decided it (`.codex-plugin`, `plugin.json`) are unchanged.
 * With a snapshot, what an earlier process kept is taken over on the same terms, and what is kept is saved after
 * each load.
 */
export const makeMarketplaceLoader = (watch: CacheWatch | undefined, snapshot: DiscoverySnapshot | undefined) => {
  const watched = watch === undefined ? {} : { watch }
  const marketplaces = new ListingCache<Result.Result<Marketplace, MarketplaceError>>({
    settleMs: SETTLE_MS,
    maxEntries: MAX_CACHED_MARKETPLACES,
    ...watched,
    ...(snapshot === undefined ? {} : {
      stored: (path: string) => {
        const entry = snapshot.storedMarketplace(path)
        return entry === undefined ? undefined : { value: Result.succeed(entry.value), observations: entry.observations }
      }
    })
  })
  const manifests = new ListingCache<PluginManifestInterface | null>({
    settleMs: SETTLE_MS,
    maxEntries: MAX_CACHED_MANIFESTS,
    ...watched,
    ...(snapshot === undefined ? {} : { stored: snapshot.storedManifest })
  })
  // only parsed marketplaces are saved: a file that fails is read again (and fails again) by the next process
  const source: SnapshotSource = {
    changes: () => marketplaces.changes + manifests.changes,
    content: () => {
      const parsed = marketplaces.keptEntries().flatMap((entry) =>
        Result.isSuccess(entry.value) ? [{ key: entry.key, value: entry.value.success, observations: entry.observations }] : []
      )
      const interfaces = manifests.keptEntries()
      const byRoot = new Map(interfaces.map((entry) => [entry.key, entry]))
      const listings = parsed.flatMap((entry) => {
        const fragment = marketplaceFragment(entry.key, entry.observations, entry.value, (root) => byRoot.get(root))
        return fragment === undefined ? [] : [fragment]
      })
      return { marketplaces: parsed, manifests: interfaces, listings }
    }
  }
  // the listed plugin is rebuilt only when its entry or its manifest is not the one it was built from
  const built = new WeakMap<ResolvedPluginEntry, { readonly manifest: PluginManifestInterface | null; readonly plugin: LoadedPlugin }>()

  /**
   * `load`, one marketplace at a time: each listed marketplace is yielded once loaded, the whole result returned;
   * `seen`: plugin ids listed before `paths` (files before them, rendered otherwise), whose later entries are skipped.
   */
  function* loadSteps(
    paths: ReadonlyArray<string>,
    nowMs: number,
    seen: Set<string> = new Set()
  ): Generator<LoadedMarketplace, LoadResult, void> {
    const loaded: Array<LoadedMarketplace> = []
    const errors: Array<MarketplaceLoadError> = []
    for (const file of paths) {
      const parsed = marketplaces.get(file, nowMs, readMarketplace)
      if (Result.isFailure(parsed)) {
        errors.push({ marketplacePath: file, message: parsed.failure.message })
        continue
      }
      const plugins: Array<LoadedPlugin> = []
      for (const entry of parsed.success.plugins) {
        if (seen.has(entry.id)) continue
        seen.add(entry.id)
        if (!isListedForProduct(entry)) continue
        const manifest = manifests.get(entry.sourceDir, nowMs, readManifest)
        const previous = built.get(entry)
        if (previous !== undefined && previous.manifest === manifest) {
          plugins.push(previous.plugin)
          continue
        }
        const plugin = loadedPlugin(entry, manifest)
        built.set(entry, { manifest, plugin })
        plugins.push(plugin)
      }
      if (plugins.length === 0) continue
      const { interface: iface, name, path: marketplacePath } = parsed.success
      const marketplace: LoadedMarketplace = { name, path: marketplacePath, interface: iface, plugins }
      loaded.push(marketplace)
      yield marketplace
    }
    snapshot?.saveSoon(source)
    return { marketplaces: loaded, errors }
  }
  const load = (paths: ReadonlyArray<string>, nowMs: number): LoadResult => {
    const steps = loadSteps(paths, nowMs)
    let step = steps.next()
    while (step.done !== true) step = steps.next()
    return step.value
  }
  return { load, loadSteps, marketplaces, manifests }
}
