import { Result, Schema } from "effect"
import {
  AUTH_VARIANTS,
  type AuthPolicy,
  INSTALL_VARIANTS,
  type InstallPolicy,
  type MarketplaceDocument,
  PRODUCT_VARIANTS,
  readMarketplaceDocument,
  readMarketplaceDocumentExact,
  variantOf
} from "./MarketplaceDocument.ts"
import { checkPluginSourcePath, components, join } from "./PathRules.ts"
import { makePluginId, type PluginIdParts, pluginKey } from "./PluginId.ts"

export type { AuthPolicy, InstallPolicy } from "./MarketplaceDocument.ts"
export type Product = "CHATGPT" | "CODEX" | "ATLAS"
/** The product the app-server lists for: `policy.products` without it hides the plugin from `plugin/list`. */
export const APP_SERVER_PRODUCT: Product = "CODEX"

export interface MarketplacePluginEntry {
  readonly name: string
  /** `source.path` exactly as written */
  readonly sourcePath: string
  readonly installPolicy: InstallPolicy
  readonly authPolicy: AuthPolicy
  /** empty = every product (0.116.0: an explicit `[]` also allows every product) */
  readonly products: ReadonlyArray<Product>
  /** marketplace taxonomy; overrides the manifest's `interface.category` when present (even `""`) */
  readonly category?: string
}

export interface MarketplaceInterface {
  readonly displayName: string
}

export interface MarketplaceFile {
  readonly path: string
  readonly name: string
  /** null unless `interface.displayName` is a string (`{}` → null, `""` → `{displayName:""}`) */
  readonly interface: MarketplaceInterface | null
  readonly plugins: ReadonlyArray<MarketplacePluginEntry>
}

export interface ResolvedPluginEntry extends MarketplacePluginEntry {
  /** `{plugin}@{marketplace}`, not validated (listing does not validate names) */
  readonly id: string
  /** absolute plugin directory (may not exist) */
  readonly sourceDir: string
}

export interface Marketplace extends Omit<MarketplaceFile, "plugins"> {
  /** the directory holding `.agents/`; null for a misplaced file without plugins */
  readonly root: string | null
  readonly plugins: ReadonlyArray<ResolvedPluginEntry>
}

export const MarketplaceErrorReason = Schema.Literals([
  "NotFound",
  "InvalidFile",
  "PluginNotFound",
  "PluginNotAvailable",
  "InvalidPlugin",
  "Io"
])
export type MarketplaceErrorReason = typeof MarketplaceErrorReason.Type

/** codex `MarketplaceError`; `message` is the exact Display text. */
export class MarketplaceError extends Schema.TaggedError<MarketplaceError>()("MarketplaceError", {
  reason: MarketplaceErrorReason,
  path: Schema.String,
  message: Schema.String
}) {
  static notFound(path: string): MarketplaceError {
    return new MarketplaceError({ reason: "NotFound", path, message: `marketplace file \`${path}\` does not exist` })
  }
  static invalidFile(path: string, detail: string): MarketplaceError {
    return new MarketplaceError({ reason: "InvalidFile", path, message: `invalid marketplace file \`${path}\`: ${detail}` })
  }
  /** binary: `failed to read marketplace file: Is a directory (os error 21)` (plugin/read wraps it in -32603) */
  static io(path: string, detail: string): MarketplaceError {
    return new MarketplaceError({ reason: "Io", path, message: `failed to read marketplace file: ${detail}` })
  }
  static pluginNotFound(path: string, plugin: string, marketplace: string): MarketplaceError {
    return new MarketplaceError({
      reason: "PluginNotFound",
      path,
      message: `plugin \`${plugin}\` was not found in marketplace \`${marketplace}\``
    })
  }
  static pluginNotAvailable(path: string, plugin: string, marketplace: string): MarketplaceError {
    return new MarketplaceError({
      reason: "PluginNotAvailable",
      path,
      message: `plugin \`${plugin}\` is not available for install in marketplace \`${marketplace}\``
    })
  }
  static invalidPlugin(path: string, message: string): MarketplaceError {
    return new MarketplaceError({ reason: "InvalidPlugin", path, message })
  }
}

const lastName = (path: string): { readonly parent: string; readonly name: string } | undefined => {
  const parts = components(path)
  const last = parts[parts.length - 1]
  if (last === undefined || last._tag !== "Normal") return undefined
  const names = parts.flatMap((c) => (c._tag === "Normal" ? [c.name] : []))
  return { parent: join(path.startsWith("/") ? "/" : ".", ...names.slice(0, -1)), name: last.name }
}

/**
 * The marketplace root: the file's parent must be named `plugins` and the grandparent `.agents` (the file name
 * itself is not checked: `.agents/plugins/other.json` works). The root is the parent of `.agents`.
 */
export const marketplaceRootOf = (marketplacePath: string): Result.Result<string, MarketplaceError> => {
  const file = lastName(marketplacePath)
  const plugins = file === undefined ? undefined : lastName(file.parent)
  const agents = plugins === undefined ? undefined : lastName(plugins.parent)
  if (plugins?.name !== "plugins" || agents?.name !== ".agents") {
    return Result.fail(MarketplaceError.invalidFile(marketplacePath, "marketplace file must live under `<root>/.agents/plugins/`"))
  }
  return Result.succeed(agents.parent)
}

const PRODUCTS: Record<string, Product> = { chatgpt: "CHATGPT", codex: "CODEX", atlas: "ATLAS" }

const toMarketplaceFile = (path: string, { pluginString, value }: MarketplaceDocument): MarketplaceFile => ({
  path,
  name: value.name,
  interface: typeof value.interface?.displayName === "string" ? { displayName: value.interface.displayName } : null,
  plugins: value.plugins.map((raw, index): MarketplacePluginEntry => {
    // Deliberate difference: the March 2026 contract's top-level `installPolicy` / `authPolicy` are honoured
    // when the nested `policy` does not set them (0.116.0 ignores them). Values that are not a known variant
    // stay ignored, so no file the reference accepts is rejected here.
    const topLevel = <V extends string>(key: string, variants: ReadonlyArray<V>): V | undefined => {
      const found = pluginString(index, key)
      return found === undefined ? undefined : variants.find((v) => v === found)
    }
    const base = {
      name: raw.name,
      sourcePath: raw.source.path,
      installPolicy: (raw.policy?.installation === undefined ? undefined : variantOf(INSTALL_VARIANTS, raw.policy.installation)) ??
        topLevel("installPolicy", INSTALL_VARIANTS) ?? "AVAILABLE",
      authPolicy: (raw.policy?.authentication === undefined ? undefined : variantOf(AUTH_VARIANTS, raw.policy.authentication)) ??
        topLevel("authPolicy", AUTH_VARIANTS) ?? "ON_INSTALL",
      products: (raw.policy?.products ?? []).flatMap((p) => {
        const product = PRODUCTS[variantOf(PRODUCT_VARIANTS, p)?.toLowerCase() ?? ""]
        return product === undefined ? [] : [product]
      })
    }
    return typeof raw.category === "string" ? { ...base, category: raw.category } : base
  })
})

/**
 * Parses marketplace text. Errors are `invalid marketplace file `{path}`: {serde message}` with serde_json's text
 * and position, e.g. `{not json` → `key must be a string at line 1 column 2`. A plainly valid file is read with
 * `JSON.parse`; anything else goes through the serde emulation, which decides it.
 */
export const decodeMarketplaceText = (path: string, text: string): Result.Result<MarketplaceFile, MarketplaceError> => {
  const document = readMarketplaceDocument(text)
  return Result.isFailure(document)
    ? Result.fail(MarketplaceError.invalidFile(path, document.failure))
    : Result.succeed(toMarketplaceFile(path, document.success))
}

/** `decodeMarketplaceText` through the serde emulation only (the reference for the fast path's results). */
export const decodeMarketplaceTextExact = (path: string, text: string): Result.Result<MarketplaceFile, MarketplaceError> =>
  readMarketplaceDocumentExact(text).pipe(
    Result.mapError((detail) => MarketplaceError.invalidFile(path, detail)),
    Result.map((document) => toMarketplaceFile(path, document))
  )

/**
 * `marketplaceRootOf(file.path)`, worked out once per decoded file: installs reuse a file's decode while its text is
 * unchanged (InstallPlan.ts), and its path rules are several component walks.
 */
const roots = new WeakMap<MarketplaceFile, Result.Result<string, MarketplaceError>>()
const rootOfFile = (file: MarketplaceFile): Result.Result<string, MarketplaceError> => {
  let root = roots.get(file)
  if (root === undefined) {
    root = marketplaceRootOf(file.path)
    roots.set(file, root)
  }
  return root
}

const resolveEntry = (
  file: MarketplaceFile,
  entry: MarketplacePluginEntry,
  root: Result.Result<string, MarketplaceError> = rootOfFile(file)
): Result.Result<ResolvedPluginEntry, MarketplaceError> => {
  // the relative path is checked before the marketplace location (binary: a bad path wins over a bad location)
  const names = checkPluginSourcePath(entry.sourcePath)
  if (Result.isFailure(names)) return Result.fail(MarketplaceError.invalidFile(file.path, names.failure))
  if (Result.isFailure(root)) return Result.fail(root.failure)
  return Result.succeed({ ...entry, id: pluginKey(entry.name, file.name), sourceDir: join(root.success, ...names.success) })
}

/** Resolves every entry, failing on the first bad one (what `plugin/list` and `plugin/read` do in 0.116.0). */
export const resolveMarketplace = (file: MarketplaceFile): Result.Result<Marketplace, MarketplaceError> => {
  const root = marketplaceRootOf(file.path)
  const plugins: Array<ResolvedPluginEntry> = []
  let failure: MarketplaceError | undefined
  // `every` rather than `for...of`: once per listed plugin, in code not yet optimised (see FastJson.ts)
  file.plugins.every((entry) => {
    const resolved = resolveEntry(file, entry, root)
    if (Result.isFailure(resolved)) failure = resolved.failure
    else plugins.push(resolved.success)
    return failure === undefined
  })
  if (failure !== undefined) return Result.fail(failure)
  // the location is only checked per entry: a misplaced file with no plugins is not an error (verified)
  return Result.succeed({ ...file, root: Result.isSuccess(root) ? root.success : null, plugins })
}

export const parseMarketplace = (path: string, text: string): Result.Result<Marketplace, MarketplaceError> =>
  Result.flatMap(decodeMarketplaceText(path, text), resolveMarketplace)

/** `plugin/read`: the first entry with that name. */
export const findPlugin = (marketplace: Marketplace, pluginName: string): Result.Result<ResolvedPluginEntry, MarketplaceError> => {
  const entry = marketplace.plugins.find((p) => p.name === pluginName)
  return entry === undefined
    ? Result.fail(MarketplaceError.pluginNotFound(marketplace.path, pluginName, marketplace.name))
    : Result.succeed(entry)
}

/** An install's checks of its entry before the entry is resolved: found, available, its id valid (in that order). */
const installEntry = <E extends MarketplacePluginEntry>(
  marketplace: { readonly path: string; readonly name: string; readonly plugins: ReadonlyArray<E> },
  pluginName: string
): Result.Result<{ readonly entry: E; readonly pluginId: PluginIdParts }, MarketplaceError> => {
  const entry = marketplace.plugins.find((p) => p.name === pluginName)
  if (entry === undefined) return Result.fail(MarketplaceError.pluginNotFound(marketplace.path, pluginName, marketplace.name))
  if (entry.installPolicy === "NOT_AVAILABLE") {
    return Result.fail(MarketplaceError.pluginNotAvailable(marketplace.path, pluginName, marketplace.name))
  }
  const id = makePluginId(entry.name, marketplace.name)
  if (Result.isFailure(id)) return Result.fail(MarketplaceError.invalidPlugin(marketplace.path, id.failure.message))
  return Result.succeed({ entry, pluginId: id.success })
}

/**
 * `plugin/install`: only the first entry with that name is resolved (other bad entries do not matter). Order:
 * not found → `NOT_AVAILABLE` → name validation (`PluginId::new`) → source path → marketplace location.
 * `policy.products` is NOT checked at install in 0.116.0.
 */
export const resolveInstallTarget = (
  file: MarketplaceFile,
  pluginName: string
): Result.Result<{ readonly entry: ResolvedPluginEntry; readonly pluginId: PluginIdParts }, MarketplaceError> => {
  const target = installEntry(file, pluginName)
  if (Result.isFailure(target)) return Result.fail(target.failure)
  // no `Result.map`: its dual-API dispatch is costly in code run once per install, not yet optimised
  const resolved = resolveEntry(file, target.success.entry)
  return Result.isFailure(resolved)
    ? Result.fail(resolved.failure)
    : Result.succeed({ entry: resolved.success, pluginId: target.success.pluginId })
}

/**
 * `resolveInstallTarget` on a marketplace whose every entry resolved (`resolveMarketplace`): the same result and the
 * same errors, as the source path and location checks it would make of the entry have passed already.
 */
export const resolveInstallTargetIn = (
  marketplace: Marketplace,
  pluginName: string
): Result.Result<{ readonly entry: ResolvedPluginEntry; readonly pluginId: PluginIdParts }, MarketplaceError> =>
  installEntry(marketplace, pluginName)

/** 0.116.0 `plugin/list` hides entries whose non-empty `policy.products` lacks the app-server product. */
export const isListedForProduct = (entry: MarketplacePluginEntry, product: Product = APP_SERVER_PRODUCT): boolean =>
  entry.products.length === 0 || entry.products.includes(product)
