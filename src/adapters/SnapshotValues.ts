/**
 * Checks that a value read back from the discovery snapshot (DiscoverySnapshotFormat.ts) has exactly the shape
 * discovery computes: a resolved marketplace, a manifest's interface. The snapshot is a file anyone may have edited or
 * damaged, and a value of the wrong shape would put wrong bytes into an answer (or make code that trusts its types
 * throw), so every field is checked. Hand-written, with plain loops: it runs for every plugin of a first listing, in a
 * fresh process, where its code is not optimised yet (an iterator or a callback per value costs more than the check).
 */
import type { PluginManifestInterface } from "../domain/Manifest.ts"
import type { Marketplace, ResolvedPluginEntry } from "../domain/Marketplace.ts"

type Fields = Readonly<Record<string, unknown>>

const isFields = (value: unknown): value is Fields => typeof value === "object" && value !== null && !Array.isArray(value)

const isString = (value: unknown): value is string => typeof value === "string"

const isStringOrNull = (value: unknown): value is string | null => value === null || typeof value === "string"

const isStringList = (value: unknown): value is ReadonlyArray<string> => {
  if (!Array.isArray(value)) return false
  for (let i = 0; i < value.length; i++) if (typeof value[i] !== "string") return false
  return true
}

const INSTALL_POLICIES: ReadonlyArray<unknown> = ["NOT_AVAILABLE", "AVAILABLE", "INSTALLED_BY_DEFAULT"]
const AUTH_POLICIES: ReadonlyArray<unknown> = ["ON_INSTALL", "ON_USE"]
const PRODUCTS: ReadonlyArray<unknown> = ["CHATGPT", "CODEX", "ATLAS"]

const NULLABLE_INTERFACE_FIELDS = ["displayName", "shortDescription", "longDescription", "developerName", "category",
  "websiteUrl", "privacyPolicyUrl", "termsOfServiceUrl", "brandColor", "composerIcon", "logo"] as const

/** A manifest's `interface` as decoded (`PluginManifestInterface`). */
export const isManifestInterface = (value: unknown): value is PluginManifestInterface => {
  if (!isFields(value)) return false
  for (let i = 0; i < NULLABLE_INTERFACE_FIELDS.length; i++) if (!isStringOrNull(value[NULLABLE_INTERFACE_FIELDS[i] ?? ""])) return false
  return isStringList(value["capabilities"]) && isStringList(value["screenshots"]) &&
    (value["defaultPrompt"] === null || isStringList(value["defaultPrompt"]))
}

const isProductList = (value: unknown): boolean => {
  if (!Array.isArray(value)) return false
  for (let i = 0; i < value.length; i++) if (!PRODUCTS.includes(value[i])) return false
  return true
}

const isResolvedEntry = (value: unknown): value is ResolvedPluginEntry =>
  isFields(value) && isString(value["name"]) && isString(value["sourcePath"]) && INSTALL_POLICIES.includes(value["installPolicy"]) &&
  AUTH_POLICIES.includes(value["authPolicy"]) && isProductList(value["products"]) &&
  (value["category"] === undefined || isString(value["category"])) && isString(value["id"]) && isString(value["sourceDir"])

/** A resolved marketplace read from the file at `path` (its own `path` must be that one). */
export const isMarketplaceAt = (path: string, value: unknown): value is Marketplace => {
  if (!isFields(value) || value["path"] !== path || !isString(value["name"]) || !isStringOrNull(value["root"])) return false
  const iface = value["interface"]
  if (iface !== null && !(isFields(iface) && isString(iface["displayName"]))) return false
  const plugins = value["plugins"]
  if (!Array.isArray(plugins)) return false
  for (let i = 0; i < plugins.length; i++) if (!isResolvedEntry(plugins[i])) return false
  return true
}
