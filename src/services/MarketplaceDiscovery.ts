import { Clock, Context, Effect, Layer, Result } from "effect"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import type { WirePluginInterface } from "../domain/Manifest.ts"
import type { AuthPolicy, InstallPolicy, Marketplace, MarketplaceInterface } from "../domain/Marketplace.ts"
import { comparePaths, join, normalize } from "../domain/PathRules.ts"
import type { DiscoverySnapshot } from "./DiscoverySnapshot.ts"
import type { CacheWatch } from "./ListingCache.ts"
import { makeMarketplaceLoader } from "./MarketplaceLoader.ts"

/** `<root>/.agents/plugins/marketplace.json` */
export const MARKETPLACE_RELATIVE_PATH = ".agents/plugins/marketplace.json"

export interface DiscoverOptions {
  /** `$HOME` (not CODEX_HOME): its marketplace is listed first */
  readonly home: string
  readonly codexHome: string
  /** request `cwds`; their order does not matter (roots are sorted) */
  readonly cwds: ReadonlyArray<string>
}

/** One listed plugin: everything `plugin/list` prints except `installed`/`enabled`. */
export interface LoadedPlugin {
  /** `{plugin}@{marketplace}`, not validated */
  readonly id: string
  readonly name: string
  /** absolute source directory (may not exist) */
  readonly sourcePath: string
  readonly installPolicy: InstallPolicy
  readonly authPolicy: AuthPolicy
  readonly category: string | null
  /** from the SOURCE directory's manifest, with the marketplace category applied */
  readonly interface: WirePluginInterface | null
}

export interface LoadedMarketplace {
  readonly name: string
  readonly path: string
  readonly interface: MarketplaceInterface | null
  readonly plugins: ReadonlyArray<LoadedPlugin>
}

export interface MarketplaceLoadError {
  readonly marketplacePath: string
  readonly message: string
}

export interface LoadResult {
  readonly marketplaces: ReadonlyArray<LoadedMarketplace>
  /** files skipped because they could not be read or parsed (the 0.116.0 binary fails the whole list instead) */
  readonly errors: ReadonlyArray<MarketplaceLoadError>
}

export interface MarketplaceDiscoveryShape {
  /**
   * Marketplace files in listing order: `$HOME`'s first (if a file); then, for each root (cwds plus
   * `codexHome/.tmp/plugins` when it exists, normalised, sorted as Rust paths, de-duplicated), the root's own file
   * if it is a file not yet listed, else the enclosing git repository's file if that is a file not yet listed.
   */
  readonly discover: (options: DiscoverOptions) => Effect.Effect<ReadonlyArray<string>>
  /**
   * Parses the files in order. The first entry of a `plugin@marketplace` key wins across all files (even when it
   * is then hidden by `policy.products`), and a marketplace left with no plugins is omitted.
   */
  readonly load: (paths: ReadonlyArray<string>) => Effect.Effect<LoadResult>
  /**
   * The marketplace file at `path` as a listing parsed it, while a `stat` shows it unchanged (`ListingCache.peek`), when
   * it parsed whole (every entry resolved); undefined otherwise. Nothing is read.
   */
  readonly known: (path: string) => Marketplace | undefined
}

/** `stat` that never throws: undefined when the path cannot be stat'ed. */
const statOf = (path: string): NodeFs.Stats | undefined => {
  try {
    return NodeFs.statSync(path, { throwIfNoEntry: false })
  } catch {
    return undefined
  }
}
const isFile = (path: string): boolean => statOf(path)?.isFile() === true
const exists = (path: string): boolean => statOf(path) !== undefined

/** nearest ancestor (the path itself included) holding a `.git` entry, found lexically */
const gitRoot = (start: string): string | undefined => {
  for (let dir = start; ; dir = join(dir, "..")) {
    if (exists(join(dir, ".git"))) return dir
    if (dir === "/") return undefined
  }
}

const discoverSync = (options: DiscoverOptions): ReadonlyArray<string> => {
  const listed: Array<string> = []
  const homeFile = join(options.home, MARKETPLACE_RELATIVE_PATH)
  if (isFile(homeFile)) listed.push(homeFile)
  const curated = join(options.codexHome, ".tmp/plugins")
  const roots = [...options.cwds.map((cwd) => normalize(NodePath.resolve(cwd))), ...(exists(curated) ? [curated] : [])]
    .sort(comparePaths)
    .filter((root, index, all) => index === 0 || all[index - 1] !== root)
  for (const root of roots) {
    const own = join(root, MARKETPLACE_RELATIVE_PATH)
    if (isFile(own) && !listed.includes(own)) {
      listed.push(own)
      continue
    }
    const repo = gitRoot(root)
    if (repo === undefined) continue
    const repoFile = join(repo, MARKETPLACE_RELATIVE_PATH)
    if (isFile(repoFile) && !listed.includes(repoFile)) listed.push(repoFile)
  }
  return listed
}

/** The loader's caches, for a watcher that reports changes to the files they observed. */
export interface DiscoveryCaches {
  /** a watched path changed: forget what was decided from it */
  readonly invalidate: (path: string) => void
  /** the watch can no longer vouch for anything */
  readonly clear: () => void
  /** kept results, and those of them reused without a `stat` */
  readonly stats: () => { readonly kept: number; readonly trusted: number }
}

/** A discovery and its caches; `discoverNow` and `loadNow` are the service's two steps as plain calls. */
export interface Discovery {
  readonly service: MarketplaceDiscoveryShape
  readonly caches: DiscoveryCaches
  readonly discoverNow: (options: DiscoverOptions) => ReadonlyArray<string>
  readonly loadNow: (paths: ReadonlyArray<string>, nowMs: number) => LoadResult
  /** `loadNow` one marketplace at a time (see `loadSteps`), for an answer written while the rest loads */
  readonly loadSteps: (paths: ReadonlyArray<string>, nowMs: number, seen?: Set<string>) => Generator<LoadedMarketplace, LoadResult, void>
}

/**
 * Discovery whose loading caches trust `watch` (see `CacheWatch`; the plain layer revalidates with `stat`s) and take
 * over and save `snapshot` (`serve` only: a command that reads writes nothing).
 */
export const makeMarketplaceDiscovery = (watch?: CacheWatch, snapshot?: DiscoverySnapshot): Discovery => {
  const loader = makeMarketplaceLoader(watch, snapshot)
  return {
    discoverNow: discoverSync,
    loadNow: loader.load,
    loadSteps: loader.loadSteps,
    service: {
      discover: Effect.fn("MarketplaceDiscovery.discover")(function*(options: DiscoverOptions) {
        return discoverSync(options)
      }),
      load: Effect.fn("MarketplaceDiscovery.load")(function*(paths: ReadonlyArray<string>) {
        return loader.load(paths, yield* Clock.currentTimeMillis)
      }),
      known: (path) => {
        const parsed = loader.marketplaces.peek(path)
        return parsed !== undefined && Result.isSuccess(parsed) ? parsed.success : undefined
      }
    },
    caches: {
      invalidate: (path) => {
        loader.marketplaces.invalidate(path)
        loader.manifests.invalidate(path)
      },
      clear: () => {
        loader.marketplaces.clear()
        loader.manifests.clear()
      },
      stats: () => ({
        kept: loader.marketplaces.size + loader.manifests.size,
        trusted: loader.marketplaces.trustedSize + loader.manifests.trustedSize
      })
    }
  }
}

/**
 * The marketplace files whose appearance, change or removal can change what `discover` returns for `cwds`: each
 * root's own file and, for roots inside a git repository, the repository's file (whether they exist or not).
 */
export const watchCandidates = (options: DiscoverOptions): ReadonlyArray<string> => {
  const files = [join(options.home, MARKETPLACE_RELATIVE_PATH), join(options.codexHome, ".tmp/plugins", MARKETPLACE_RELATIVE_PATH)]
  for (const cwd of options.cwds) {
    const root = normalize(NodePath.resolve(cwd))
    files.push(join(root, MARKETPLACE_RELATIVE_PATH))
    const repo = gitRoot(root)
    if (repo !== undefined && repo !== root) files.push(join(repo, MARKETPLACE_RELATIVE_PATH))
  }
  return files
}

export class MarketplaceDiscovery extends Context.Service<MarketplaceDiscovery, MarketplaceDiscoveryShape>()(
  "plugin-ledger/services/MarketplaceDiscovery"
) {
  static readonly layer: Layer.Layer<MarketplaceDiscovery> = Layer.sync(
    MarketplaceDiscovery,
    () => MarketplaceDiscovery.of(makeMarketplaceDiscovery().service)
  )
}
