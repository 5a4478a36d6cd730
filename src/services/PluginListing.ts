/**
 * `plugin/list`'s answer from the marketplaces loaded and from what Codex itself reads (the user config.toml and
 * the plugin cache, which the projector keeps equal to the log). Plain reads, shared by the Catalog and by `serve`'s
 * first listing, which is answered before the engine is loaded (src/cli/FirstList.ts).
 */
import * as Path from "node:path"
import { inspectConfig, type ParsedConfig } from "../adapters/ConfigToml.ts"
import type { FsPort } from "../adapters/FsPort.ts"
import { isDirectory, readTextOrEmpty } from "../adapters/FsQueries.ts"
import { rustIoError } from "../adapters/RustIoError.ts"
import { type PluginManifestInterface, wireInterfaceOf } from "../domain/Manifest.ts"
import type { ResolvedPluginEntry } from "../domain/Marketplace.ts"
import type { MarketplaceView, PluginListView, PluginSummaryView } from "../domain/PluginViews.ts"
import { describeConfigProblem } from "./ConfigProblems.ts"
import type { LoadedMarketplace, LoadedPlugin, LoadResult } from "./MarketplaceDiscovery.ts"

const emptyConfig: ParsedConfig = { pluginsFeature: undefined, chatgptBaseUrl: undefined, plugins: new Map() }

/**
 * Only the user's config.toml counts (project configs may not enable plugins). A missing file reads as empty; one
 * Codex could not load fails the request (`error`: the message), as the reference's config reload does.
 */
export const readListingConfig = (
  fs: FsPort,
  configPath: string
): { readonly config: ParsedConfig } | { readonly error: string } => {
  let text: string
  try {
    text = readTextOrEmpty(fs, configPath)
  } catch (error) {
    return { error: `failed to reload config: ${configPath}: ${rustIoError(error)}` }
  }
  const { problem, config } = inspectConfig(text)
  if (problem !== undefined) return { error: describeConfigProblem(problem, configPath, "reload") }
  return { config: config ?? emptyConfig }
}

/** The reference's active version: a `local` dir, or a dir named by a 40-hex git sha (curated installs). */
export const hasActiveVersion = (fs: FsPort, cacheDir: string, pluginId: string): boolean => {
  const at = pluginId.lastIndexOf("@")
  const dir = Path.join(cacheDir, pluginId.slice(at + 1), pluginId.slice(0, at))
  if (isDirectory(fs, Path.join(dir, "local"))) return true
  let names: ReadonlyArray<string>
  try {
    names = fs.readdirSync(dir)
  } catch {
    return false
  }
  return names.some((name) => /^[0-9a-f]{40}$/.test(name) && isDirectory(fs, Path.join(dir, name)))
}

/** `installed` and `enabled` of a plugin as the reference reports them. */
export const pluginStateOf = (fs: FsPort, cacheDir: string, config: ParsedConfig, pluginId: string) => {
  const entry = config.plugins.get(pluginId)
  return {
    installed: entry !== undefined && hasActiveVersion(fs, cacheDir, pluginId),
    // with the plugins feature off, the reference reports every plugin disabled
    enabled: config.pluginsFeature === true && entry?.enabled === true
  }
}

/** A marketplace entry as listed, its interface from its manifest's (null: none, or no valid manifest). */
export const loadedPlugin = (entry: ResolvedPluginEntry, manifest: PluginManifestInterface | null): LoadedPlugin => ({
  id: entry.id,
  name: entry.name,
  sourcePath: entry.sourceDir,
  installPolicy: entry.installPolicy,
  authPolicy: entry.authPolicy,
  category: entry.category ?? null,
  interface: wireInterfaceOf(manifest, entry.category)
})

/** A listed plugin's summary in the answer. */
export const pluginSummary = (p: LoadedPlugin, state: { readonly installed: boolean; readonly enabled: boolean }): PluginSummaryView => ({
  // every summary built with the same literal (one object shape), which JSON.stringify walks fastest
  id: p.id,
  name: p.name,
  source: { type: "local", path: p.sourcePath },
  installed: state.installed,
  enabled: state.enabled,
  installPolicy: p.installPolicy,
  authPolicy: p.authPolicy,
  interface: p.interface
})

/** One listed marketplace with each plugin's state from `config` and the cache under `cacheDir`. */
export const marketplaceView = (fs: FsPort, cacheDir: string, config: ParsedConfig, m: LoadedMarketplace): MarketplaceView => ({
  name: m.name,
  path: m.path,
  interface: m.interface,
  plugins: m.plugins.map((p) => pluginSummary(p, pluginStateOf(fs, cacheDir, config, p.id)))
})

/** The listing of `loaded` with each plugin's state from `config` and the cache under `cacheDir`. */
export const listingView = (fs: FsPort, cacheDir: string, loaded: LoadResult, config: ParsedConfig): PluginListView => {
  const view: PluginListView = {
    marketplaces: loaded.marketplaces.map((m) => marketplaceView(fs, cacheDir, config, m)),
    // the remote sync runs in the Engine before the listing (`forceRemoteSync`); here there is none
    remoteSyncError: null
  }
  return loaded.errors.length === 0 ? view : { ...view, marketplaceLoadErrors: loaded.errors }
}
