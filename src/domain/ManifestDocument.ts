/**
 * `.codex-plugin/plugin.json` as codex 0.116.0 reads it (`RawPluginManifest` through serde_json): the schema, the
 * serde layout that phrases its errors, and two readers with the same results, the serde emulation and a
 * `JSON.parse` fast path that answers only for plainly valid documents.
 */
import { Result, Schema } from "effect"
import { field, isJsonArray, isJsonObject, type Json, type JsonObject, parseJsonFast } from "./FastJson.ts"
import { type JsonPath, nodeAt } from "./SerdeJson.ts"
import { decodeSerde, type SerdeShape } from "./SerdeStruct.ts"

const OptionalStr = Schema.optionalKey(Schema.NullOr(Schema.String).annotate({ expected: "a string" }))
const Strings = Schema.optionalKey(
  Schema.Array(Schema.String.annotate({ expected: "a string" })).annotate({ expected: "a sequence" })
)

// Type errors in these fields make the whole manifest invalid (verified: `"displayName":5`, `"capabilities":null`,
// `"name":null`, `"interface":5` all give `missing or invalid`); only path rules and defaultPrompt are lenient.
const RawInterface = Schema.Struct({
  displayName: OptionalStr,
  shortDescription: OptionalStr,
  longDescription: OptionalStr,
  developerName: OptionalStr,
  category: OptionalStr,
  capabilities: Strings,
  websiteUrl: OptionalStr,
  websiteURL: OptionalStr,
  privacyPolicyUrl: OptionalStr,
  privacyPolicyURL: OptionalStr,
  termsOfServiceUrl: OptionalStr,
  termsOfServiceURL: OptionalStr,
  defaultPrompt: Schema.optionalKey(Schema.Unknown),
  brandColor: OptionalStr,
  composerIcon: OptionalStr,
  logo: OptionalStr,
  screenshots: Strings
}).annotate({ expected: "struct RawPluginManifestInterface" })

const RawManifest = Schema.Struct({
  name: Schema.optionalKey(Schema.String.annotate({ expected: "a string" })),
  description: OptionalStr,
  skills: OptionalStr,
  mcpServers: OptionalStr,
  apps: OptionalStr,
  interface: Schema.optionalKey(Schema.NullOr(RawInterface).annotate({ expected: "struct RawPluginManifestInterface" }))
}).annotate({ expected: "struct RawPluginManifest" })

const fieldMap = (pairs: ReadonlyArray<readonly [string, string]>): ReadonlyMap<string, string> => new Map(pairs)
const TOP_FIELDS = fieldMap(["name", "description", "skills", "mcpServers", "apps", "interface"].map((n) => [n, n]))
// serde aliases: both spellings are the same field, so giving both is `duplicate field `websiteUrl``
const INTERFACE_FIELDS = fieldMap([
  ...["displayName", "shortDescription", "longDescription", "developerName", "category", "capabilities", "websiteUrl",
    "privacyPolicyUrl", "termsOfServiceUrl", "defaultPrompt", "brandColor", "composerIcon", "logo", "screenshots"]
    .map((n): readonly [string, string] => [n, n]),
  ["websiteURL", "websiteUrl"],
  ["privacyPolicyURL", "privacyPolicyUrl"],
  ["termsOfServiceURL", "termsOfServiceUrl"]
])

const manifestShape: SerdeShape = {
  structFields: (path: JsonPath) =>
    path.length === 0 ? TOP_FIELDS : path.length === 1 && path[0] === "interface" ? INTERFACE_FIELDS : undefined,
  enumAt: () => undefined,
  bufferedIn: () => undefined,
  fieldCount: () => undefined
}

export type RawManifest = typeof RawManifest.Type
export type RawInterface = typeof RawInterface.Type
type Mutable<T> = { -readonly [K in keyof T]: T[K] }

/** The decoded document and its `version` when that is a string (0.116.0 does not read it; we report it). */
export interface ManifestDocument {
  readonly value: RawManifest
  readonly version: string | null
}

const NULLABLE_STRINGS = ["displayName", "shortDescription", "longDescription", "developerName", "category", "websiteUrl",
  "websiteURL", "privacyPolicyUrl", "privacyPolicyURL", "termsOfServiceUrl", "termsOfServiceURL", "brandColor",
  "composerIcon", "logo"] as const
const COMPONENTS = ["description", "skills", "mcpServers", "apps"] as const
const ALIASES = [["websiteUrl", "websiteURL"], ["privacyPolicyUrl", "privacyPolicyURL"], ["termsOfServiceUrl", "termsOfServiceURL"]] as const

const isNullableString = (value: Json | undefined): value is string | null | undefined =>
  value === undefined || value === null || typeof value === "string"

const isString = (value: Json): value is string => typeof value === "string"

const stringList = (value: Json | undefined): ReadonlyArray<string> | undefined =>
  isJsonArray(value) && value.every(isString) ? value.filter(isString) : undefined

/**
 * `interface` when it is plainly valid; undefined sends the manifest to the exact decoder. (`every` rather than
 * `for...of`: this runs once per listed plugin in code not yet optimised, where `for...of` allocates per step.)
 */
const fastInterface = (json: JsonObject): RawInterface | undefined => {
  const iface: Mutable<RawInterface> = {}
  const strings = NULLABLE_STRINGS.every((key) => {
    const value = field(json, key)
    if (!isNullableString(value)) return false
    if (value !== undefined) iface[key] = value
    return true
  })
  if (!strings) return undefined
  // both spellings of one field are serde's `duplicate field`
  if (ALIASES.some(([a, b]) => iface[a] !== undefined && iface[b] !== undefined)) return undefined
  const capabilities = field(json, "capabilities")
  if (capabilities !== undefined) {
    const list = stringList(capabilities)
    if (list === undefined) return undefined
    iface.capabilities = list
  }
  const screenshots = field(json, "screenshots")
  if (screenshots !== undefined) {
    const list = stringList(screenshots)
    if (list === undefined) return undefined
    iface.screenshots = list
  }
  const prompt = field(json, "defaultPrompt")
  if (prompt !== undefined) iface.defaultPrompt = prompt
  return iface
}

/** JSON.parse plus shape checks: the manifest when it is plainly valid, undefined when the exact decoder must decide. */
const fastManifest = (text: string): ManifestDocument | undefined => {
  const json = parseJsonFast(text)?.value
  if (!isJsonObject(json)) return undefined
  const value: Mutable<RawManifest> = {}
  const name = field(json, "name")
  if (name !== undefined) {
    if (typeof name !== "string") return undefined
    value.name = name
  }
  const components = COMPONENTS.every((key) => {
    const found = field(json, key)
    if (!isNullableString(found)) return false
    if (found !== undefined) value[key] = found
    return true
  })
  if (!components) return undefined
  const iface = field(json, "interface")
  if (iface !== undefined) {
    if (iface === null) value.interface = null
    else if (!isJsonObject(iface)) return undefined
    else {
      const decoded = fastInterface(iface)
      if (decoded === undefined) return undefined
      value.interface = decoded
    }
  }
  const version = field(json, "version")
  return { value, version: typeof version === "string" ? version : null }
}

const EMPTY_SEQUENCE = /^[ \t\n\r]*\[[ \t\n\r]*\][ \t\n\r]*$/
/** serde reads a JSON `[]` as the sequence form of an all-default struct: an empty manifest. */
const asStruct = (text: string): string => (EMPTY_SEQUENCE.test(text) ? "{}" : text)

/** Reads plugin.json text as serde_json does; fails with serde's message (including the position). */
export const readManifestDocumentExact = (text: string): Result.Result<ManifestDocument, string> =>
  Result.map(decodeSerde(RawManifest, manifestShape, asStruct(text)), ({ root, value }) => {
    const version = nodeAt(root, ["version"])
    return { value, version: version?.kind === "string" ? version.value : null }
  })

/** `readManifestDocumentExact`, through `JSON.parse` when the text is plainly valid (the same result, faster). */
export const readManifestDocument = (text: string): Result.Result<ManifestDocument, string> => {
  const fast = fastManifest(asStruct(text))
  return fast === undefined ? readManifestDocumentExact(text) : Result.succeed(fast)
}
