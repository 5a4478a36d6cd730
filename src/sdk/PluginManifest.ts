/**
 * Builds and checks the manifest a plugin answers `initialize` with, once, at start-up; and the type guards that
 * tell what a manifest declares (the reference SDK's `has*` guards).
 */
import type { Capabilities, ContentType, ManifestFields, PluginManifest, WebLinksCapability } from "./PluginTypes.ts"

export const DEFAULT_PROTOCOL_VERSION = "1.0"

const PROTOCOL_VERSION = /^1\.\d+$/

/**
 * The factory's capability flags win over the author's (a sync plugin always declares `userReadSync`). Throws
 * at start-up on a manifest the host would refuse, so the author sees it at once rather than as a host-side
 * initialize failure.
 */
export const buildManifest = (fields: ManifestFields, capabilities: Capabilities): PluginManifest => {
  for (const key of ["name", "displayName", "version"] as const) {
    const value: unknown = fields[key]
    if (typeof value !== "string" || value.trim() === "") {
      throw new TypeError(`Invalid plugin manifest: ${key} must be a non-empty string`)
    }
  }
  const protocolVersion = fields.protocolVersion ?? DEFAULT_PROTOCOL_VERSION
  if (!PROTOCOL_VERSION.test(protocolVersion)) {
    throw new TypeError(`Invalid plugin manifest: protocolVersion must be 1.x (got ${JSON.stringify(protocolVersion)})`)
  }
  return { ...fields, protocolVersion, capabilities: { ...fields.capabilities, ...capabilities } }
}

const provides = (manifest: PluginManifest, kind: ContentType): boolean =>
  Array.isArray(manifest.capabilities.metadataProvider) && manifest.capabilities.metadataProvider.includes(kind)

/** The manifest declares series metadata (`metadataProvider` includes "series"). */
export const hasSeriesMetadataProvider = (
  manifest: PluginManifest
): manifest is PluginManifest & { readonly capabilities: { readonly metadataProvider: ReadonlyArray<ContentType> } } => provides(manifest, "series")

/** The manifest declares book metadata (`metadataProvider` includes "book"). */
export const hasBookMetadataProvider = (
  manifest: PluginManifest
): manifest is PluginManifest & { readonly capabilities: { readonly metadataProvider: ReadonlyArray<ContentType> } } => provides(manifest, "book")

/** The manifest declares web links; a search-only declaration (no `seriesLinks`) counts. */
export const hasWebLinks = (
  manifest: PluginManifest
): manifest is PluginManifest & { readonly capabilities: { readonly webLinks: WebLinksCapability } } =>
  manifest.capabilities.webLinks !== undefined && manifest.capabilities.webLinks !== null
