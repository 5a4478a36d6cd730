/**
 * marketplace.json as codex 0.116.0 reads it (`RawMarketplaceManifest` through serde_json): the schema, the serde
 * layout that phrases its errors, and two readers with the same results, the serde emulation and a `JSON.parse`
 * fast path that answers only for plainly valid documents.
 */
import { Result, Schema } from "effect"
import { field, isJsonArray, isJsonObject, type Json, parseJsonFast } from "./FastJson.ts"
import { type JsonPath, nodeAt } from "./SerdeJson.ts"
import { decodeSerde, type SerdeShape } from "./SerdeStruct.ts"

export const InstallPolicy = Schema.Literals(["NOT_AVAILABLE", "AVAILABLE", "INSTALLED_BY_DEFAULT"])
export type InstallPolicy = typeof InstallPolicy.Type
export const AuthPolicy = Schema.Literals(["ON_INSTALL", "ON_USE"])
export type AuthPolicy = typeof AuthPolicy.Type

export const INSTALL_VARIANTS = ["NOT_AVAILABLE", "AVAILABLE", "INSTALLED_BY_DEFAULT"] as const
export const AUTH_VARIANTS = ["ON_INSTALL", "ON_USE"] as const
export const PRODUCT_VARIANTS = ["CHATGPT", "chatgpt", "CODEX", "codex", "ATLAS", "atlas"] as const

/** The variant equal to `value`, if it is one. */
const oneOf = <V extends string>(variants: ReadonlyArray<V>, value: unknown): V | undefined =>
  variants.find((variant) => variant === value)

/** a unit-variant enum: its name, or the map form `{"NAME": null}` (checked by `explainSerde`) */
const unitEnum = <const V extends ReadonlyArray<string>>(variants: V) =>
  Schema.Union([Schema.Literals(variants), Schema.Record(Schema.String, Schema.Unknown)])
/** The variant a unit enum names, written as a string or as the map form. */
export const variantOf = <V extends string>(variants: ReadonlyArray<V>, value: string | { readonly [k: string]: unknown }): V | undefined =>
  oneOf(variants, typeof value === "string" ? value : Object.keys(value)[0])
const RawProduct = unitEnum(PRODUCT_VARIANTS)
const Str = Schema.String.annotate({ expected: "a string" })
const OptionalStr = Schema.optionalKey(Schema.NullOr(Schema.String).annotate({ expected: "a string" }))

// 0.116.0 reads only the nested `policy` object; top-level `installPolicy`/`authPolicy` are unknown keys to it
// (verified: `"installPolicy":"NOT_AVAILABLE"` lists as AVAILABLE and installs). We honour them as a fallback,
// see `decodeMarketplaceText` in Marketplace.ts.
const RawPolicy = Schema.Struct({
  installation: Schema.optionalKey(unitEnum(INSTALL_VARIANTS)),
  authentication: Schema.optionalKey(unitEnum(AUTH_VARIANTS)),
  products: Schema.optionalKey(Schema.Array(RawProduct).annotate({ expected: "a sequence" }))
}).annotate({ expected: "struct RawMarketplaceManifestPluginPolicy" })

const RawSource = Schema.Struct({
  source: Schema.Literal("local").annotate({ expected: "`local`" }),
  path: Str
}).annotate({ expected: "internally tagged enum RawMarketplaceManifestPluginSource" })

const RawPlugin = Schema.Struct({
  name: Str,
  source: RawSource,
  policy: Schema.optionalKey(RawPolicy),
  category: OptionalStr
}).annotate({ expected: "struct RawMarketplaceManifestPlugin" })

const RawInterface = Schema.Struct({ displayName: OptionalStr }).annotate({
  expected: "struct RawMarketplaceManifestInterface"
})

const RawMarketplace = Schema.Struct({
  name: Str,
  interface: Schema.optionalKey(Schema.NullOr(RawInterface).annotate({ expected: "struct RawMarketplaceManifestInterface" })),
  plugins: Schema.Array(RawPlugin).annotate({ expected: "a sequence" })
}).annotate({ expected: "struct RawMarketplaceManifest" })

const fields = (...names: ReadonlyArray<string>): ReadonlyMap<string, string> => new Map(names.map((n) => [n, n]))
const FIELDS = {
  top: fields("name", "interface", "plugins"),
  iface: fields("displayName"),
  plugin: fields("name", "source", "policy", "category"),
  policy: fields("installation", "authentication", "products"),
  source: fields("source", "path")
}
const COUNTS: Record<string, number> = {
  RawMarketplaceManifest: 3,
  RawMarketplaceManifestInterface: 1,
  RawMarketplaceManifestPlugin: 4
}
const isPluginPath = (path: JsonPath): boolean => path[0] === "plugins" && typeof path[1] === "number"

/** serde layout of `RawMarketplaceManifest`, used to phrase and position decode errors like serde_json. */
export const marketplaceShape: SerdeShape = {
  structFields: (path) => {
    if (path.length === 0) return FIELDS.top
    if (path.length === 1 && path[0] === "interface") return FIELDS.iface
    if (!isPluginPath(path)) return undefined
    if (path.length === 2) return FIELDS.plugin
    if (path.length === 3 && path[2] === "policy") return FIELDS.policy
    if (path.length === 3 && path[2] === "source") return FIELDS.source
    return undefined
  },
  enumAt: (path) => {
    if (!isPluginPath(path)) return undefined
    if (path.length === 4 && path[2] === "source" && path[3] === "source") return { kind: "tag", variants: ["local"] }
    if (path.length === 4 && path[2] === "policy" && path[3] === "installation") return { kind: "unit", variants: INSTALL_VARIANTS }
    if (path.length === 4 && path[2] === "policy" && path[3] === "authentication") return { kind: "unit", variants: AUTH_VARIANTS }
    if (path.length === 5 && path[2] === "policy" && path[3] === "products") return { kind: "unit", variants: PRODUCT_VARIANTS }
    return undefined
  },
  bufferedIn: (path) =>
    isPluginPath(path) && path.length >= 4 && path[2] === "source" && path[3] !== "source" ? path.slice(0, 3) : undefined,
  fieldCount: (name) => COUNTS[name]
}

export type RawMarketplace = typeof RawMarketplace.Type
type RawPlugin = typeof RawPlugin.Type
type RawPolicy = typeof RawPolicy.Type
type Mutable<T> = { -readonly [K in keyof T]: T[K] }

/** The decoded document, plus the string (if any) under `key` of the `index`th plugin entry as written. */
export interface MarketplaceDocument {
  readonly value: RawMarketplace
  readonly pluginString: (index: number, key: string) => string | undefined
}

/** `policy` when it is plainly valid (variants written as names); undefined sends the file to the exact decoder. */
const fastPolicy = (json: Json | undefined): RawPolicy | undefined => {
  if (!isJsonObject(json)) return undefined
  const policy: Mutable<RawPolicy> = {}
  const installation = field(json, "installation")
  const authentication = field(json, "authentication")
  const products = field(json, "products")
  if (installation !== undefined) {
    const variant = oneOf(INSTALL_VARIANTS, installation)
    if (variant === undefined) return undefined
    policy.installation = variant
  }
  if (authentication !== undefined) {
    const variant = oneOf(AUTH_VARIANTS, authentication)
    if (variant === undefined) return undefined
    policy.authentication = variant
  }
  if (products !== undefined) {
    if (!isJsonArray(products)) return undefined
    const list: Array<typeof PRODUCT_VARIANTS[number]> = []
    const known = products.every((product) => {
      const variant = oneOf(PRODUCT_VARIANTS, product)
      if (variant !== undefined) list.push(variant)
      return variant !== undefined
    })
    if (!known) return undefined
    policy.products = list
  }
  return policy
}

const fastPlugin = (json: Json | undefined): RawPlugin | undefined => {
  if (!isJsonObject(json)) return undefined
  const name = field(json, "name")
  const source = field(json, "source")
  if (typeof name !== "string" || !isJsonObject(source) || field(source, "source") !== "local") return undefined
  const path = field(source, "path")
  if (typeof path !== "string") return undefined
  const plugin: Mutable<RawPlugin> = { name, source: { source: "local", path } }
  const policy = field(json, "policy")
  if (policy !== undefined) {
    const decoded = fastPolicy(policy)
    if (decoded === undefined) return undefined
    plugin.policy = decoded
  }
  const category = field(json, "category")
  if (category !== undefined) {
    if (category !== null && typeof category !== "string") return undefined
    plugin.category = category
  }
  return plugin
}

/** JSON.parse plus shape checks: the document when it is plainly valid, undefined when the exact decoder must decide. */
const fastMarketplace = (text: string): MarketplaceDocument | undefined => {
  const json = parseJsonFast(text)?.value
  if (!isJsonObject(json)) return undefined
  const name = field(json, "name")
  const iface = field(json, "interface")
  const plugins = field(json, "plugins")
  if (typeof name !== "string" || !isJsonArray(plugins)) return undefined
  const value: Mutable<RawMarketplace> = { name, plugins: [] }
  if (iface !== undefined) {
    if (iface === null) value.interface = null
    else if (!isJsonObject(iface)) return undefined
    else {
      const displayName = field(iface, "displayName")
      if (displayName === undefined) value.interface = {}
      else if (displayName === null || typeof displayName === "string") value.interface = { displayName }
      else return undefined
    }
  }
  // `every` rather than `for...of`: in code not yet optimised, `for...of` allocates per step (see FastJson.ts)
  const entries: Array<RawPlugin> = []
  const plain = plugins.every((item) => {
    const plugin = fastPlugin(item)
    if (plugin !== undefined) entries.push(plugin)
    return plugin !== undefined
  })
  if (!plain) return undefined
  value.plugins = entries
  const pluginString = (index: number, key: string): string | undefined => {
    const item: Json | undefined = plugins[index]
    const found = isJsonObject(item) ? field(item, key) : undefined
    return typeof found === "string" ? found : undefined
  }
  return { value, pluginString }
}

/** Reads marketplace.json text as serde_json does; fails with serde's message (including the position). */
export const readMarketplaceDocumentExact = (text: string): Result.Result<MarketplaceDocument, string> =>
  Result.map(decodeSerde(RawMarketplace, marketplaceShape, text), ({ root, value }) => ({
    value,
    pluginString: (index: number, key: string) => {
      const node = nodeAt(root, ["plugins", index, key])
      return node?.kind === "string" ? node.value : undefined
    }
  }))

/** `readMarketplaceDocumentExact`, through `JSON.parse` when the text is plainly valid (the same result, faster). */
export const readMarketplaceDocument = (text: string): Result.Result<MarketplaceDocument, string> => {
  const fast = fastMarketplace(text)
  return fast === undefined ? readMarketplaceDocumentExact(text) : Result.succeed(fast)
}
