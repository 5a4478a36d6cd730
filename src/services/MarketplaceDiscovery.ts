import { Context, Effect, FileSystem, Layer, Option, Path, Result } from "effect"
import { PluginBundle } from "../adapters/PluginBundle.ts"
import { toWireInterface, type WirePluginInterface } from "../domain/Manifest.ts"
import {
  type AuthPolicy,
  type InstallPolicy,
  isListedForProduct,
  MarketplaceError,
  type MarketplaceInterface,
  parseMarketplace
} from "../domain/Marketplace.ts"
import { comparePaths, join, normalize } from "../domain/PathRules.ts"

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
}

export class MarketplaceDiscovery extends Context.Service<MarketplaceDiscovery, MarketplaceDiscoveryShape>()(
  "plugin-ledger/services/MarketplaceDiscovery"
) {
  static readonly layer: Layer.Layer<MarketplaceDiscovery, never, FileSystem.FileSystem | Path.Path> = Layer.effect(
    MarketplaceDiscovery,
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const bundle = yield* PluginBundle.make

      const isFile = (p: string) =>
        fs.stat(p).pipe(Effect.map((info) => info.type === "File"), Effect.orElseSucceed(() => false))
      const exists = (p: string) => fs.exists(p).pipe(Effect.orElseSucceed(() => false))

      /** nearest ancestor (the path itself included) holding a `.git` entry, found lexically */
      const gitRoot = Effect.fnUntraced(function*(start: string) {
        for (let dir = start; ; dir = join(dir, "..")) {
          if (yield* exists(join(dir, ".git"))) return Option.some(dir)
          if (dir === "/") return Option.none<string>()
        }
      })

      const discover = Effect.fn("MarketplaceDiscovery.discover")(function*(options: DiscoverOptions) {
        const listed: Array<string> = []
        const homeFile = join(options.home, MARKETPLACE_RELATIVE_PATH)
        if (yield* isFile(homeFile)) listed.push(homeFile)
        const curated = join(options.codexHome, ".tmp/plugins")
        const roots = [...options.cwds.map((cwd) => normalize(path.resolve(cwd))), ...((yield* exists(curated)) ? [curated] : [])]
          .sort(comparePaths)
          .filter((root, index, all) => index === 0 || all[index - 1] !== root)
        for (const root of roots) {
          const own = join(root, MARKETPLACE_RELATIVE_PATH)
          if ((yield* isFile(own)) && !listed.includes(own)) {
            listed.push(own)
            continue
          }
          const repo = yield* gitRoot(root)
          if (Option.isNone(repo)) continue
          const repoFile = join(repo.value, MARKETPLACE_RELATIVE_PATH)
          if ((yield* isFile(repoFile)) && !listed.includes(repoFile)) listed.push(repoFile)
        }
        return listed
      })

      const readMarketplace = (file: string) =>
        fs.readFile(file).pipe(
          Effect.mapError((error) =>
            error.reason._tag === "NotFound"
              ? MarketplaceError.notFound(file)
              : MarketplaceError.io(file, rustIoText(error.reason.cause) ?? error.message)
          ),
          Effect.flatMap((bytes) =>
            Effect.try({
              try: () => STRICT_UTF8.decode(bytes),
              catch: () => MarketplaceError.io(file, "stream did not contain valid UTF-8")
            })
          ),
          Effect.flatMap((text) => Effect.fromResult(parseMarketplace(file, text)))
        )

      const load = Effect.fn("MarketplaceDiscovery.load")(function*(paths: ReadonlyArray<string>) {
        const marketplaces: Array<LoadedMarketplace> = []
        const errors: Array<MarketplaceLoadError> = []
        const seen = new Set<string>()
        for (const file of paths) {
          const parsed = yield* Effect.result(readMarketplace(file))
          if (Result.isFailure(parsed)) {
            errors.push({ marketplacePath: file, message: parsed.failure.message })
            continue
          }
          const plugins: Array<LoadedPlugin> = []
          for (const entry of parsed.success.plugins) {
            if (seen.has(entry.id)) continue
            seen.add(entry.id)
            if (!isListedForProduct(entry)) continue
            const manifest = yield* Effect.option(bundle.readManifest(entry.sourceDir))
            plugins.push({
              id: entry.id,
              name: entry.name,
              sourcePath: entry.sourceDir,
              installPolicy: entry.installPolicy,
              authPolicy: entry.authPolicy,
              category: entry.category ?? null,
              interface: toWireInterface(Option.getOrUndefined(manifest)?.manifest, entry.category)
            })
          }
          if (plugins.length === 0) continue
          const { interface: iface, name, path: marketplacePath } = parsed.success
          marketplaces.push({ name, path: marketplacePath, interface: iface, plugins })
        }
        return { marketplaces, errors }
      })

      return MarketplaceDiscovery.of({ discover, load })
    })
  )
}

const STRICT_UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })

const RUST_IO: Record<string, string> = {
  EISDIR: "Is a directory (os error 21)",
  EACCES: "Permission denied (os error 13)",
  ENOTDIR: "Not a directory (os error 20)",
  ELOOP: "Too many levels of symbolic links (os error 40)"
}

/** The `std::io::Error` Display text codex would print for a Node errno (binary: `Is a directory (os error 21)`). */
const rustIoText = (cause: unknown): string | undefined => {
  const code = cause instanceof Error ? Reflect.get(cause, "code") : undefined
  return typeof code === "string" ? RUST_IO[code] : undefined
}
