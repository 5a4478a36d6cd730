import { Result, Schema } from "effect"
import {
  type ManifestDocument,
  type RawInterface,
  readManifestDocument,
  readManifestDocumentExact
} from "./ManifestDocument.ts"
import { basename, isAbsolute, type ManifestPathResolution, normalize, resolveManifestPath } from "./PathRules.ts"

/** Path of the manifest inside a plugin root. */
export const MANIFEST_PATH = ".codex-plugin/plugin.json"
export const MAX_DEFAULT_PROMPTS = 3
export const MAX_DEFAULT_PROMPT_CHARS = 128

/** `.codex-plugin/plugin.json` after decoding; absent values are `null` (Rust `None`). */
export interface PluginManifest {
  /** effective name: the manifest `name`, or the plugin directory name when it is blank */
  readonly name: string
  /** `name` as written (`""` when absent) */
  readonly rawName: string
  /** informational only: 0.116.0 does not read `version` (any type is accepted and ignored) */
  readonly version: string | null
  readonly description: string | null
  /** absolute, already checked with `resolveManifestPath` */
  readonly skills: string | null
  readonly mcpServers: string | null
  readonly apps: string | null
  readonly interface: PluginManifestInterface | null
}

export interface PluginManifestInterface {
  readonly displayName: string | null
  readonly shortDescription: string | null
  readonly longDescription: string | null
  readonly developerName: string | null
  readonly category: string | null
  readonly capabilities: ReadonlyArray<string>
  readonly websiteUrl: string | null
  readonly privacyPolicyUrl: string | null
  readonly termsOfServiceUrl: string | null
  readonly defaultPrompt: ReadonlyArray<string> | null
  readonly brandColor: string | null
  /** absolute */
  readonly composerIcon: string | null
  readonly logo: string | null
  readonly screenshots: ReadonlyArray<string>
}

/**
 * The wire `PluginInterface`: the manifest interface with the marketplace category applied. The manifest's
 * interface keeps its keys in the order the binary prints them, so one shape serves both.
 */
export type WirePluginInterface = PluginManifestInterface

export interface DecodedManifest {
  readonly manifest: PluginManifest
  /** texts codex logs at WARN while loading (`ignoring …`) */
  readonly warnings: ReadonlyArray<string>
}

/**
 * The manifest could not be decoded; codex logs `failed to parse plugin manifest: {message}` and the plugin is
 * reported as `missing or invalid .codex-plugin/plugin.json`.
 */
export class ManifestError extends Schema.TaggedError<ManifestError>()("ManifestError", {
  message: Schema.String
}) {}

const WHITESPACE = /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/u

/** Anything `collapseWhitespace` would change: whitespace other than single spaces between words. */
const UNCOLLAPSED = /[\t\n\v\f\r\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]| {2}|^ | $/u

/** Rust `split_whitespace().join(" ")` (Unicode White_Space: U+00A0 and U+0085 collapse, U+FEFF does not). */
export const collapseWhitespace = (value: string): string =>
  UNCOLLAPSED.test(value) ? value.split(WHITESPACE).filter((p) => p.length > 0).join(" ") : value

const EDGE_WHITESPACE = /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/gu

/** Rust `str::trim` (JS `trim` also strips U+FEFF, Rust does not). */
export const trimWhitespace = (value: string): string => value.replace(EDGE_WHITESPACE, "")

const SURROGATE = /[\uD800-\uDFFF]/

/** Length in Unicode scalar values, as Rust `chars().count()`. */
export const charCount = (value: string): number => (SURROGATE.test(value) ? [...value].length : value.length)

const jsonKind = (value: unknown): string =>
  value === null ? "null" : Array.isArray(value) ? "array" : typeof value === "object" ? "object" : typeof value

const normalizePrompt = (value: string, field: string, warnings: Array<string>): string | undefined => {
  const prompt = collapseWhitespace(value)
  if (prompt.length === 0) {
    warnings.push(`ignoring ${field}: prompt must not be empty`)
    return undefined
  }
  if (charCount(prompt) > MAX_DEFAULT_PROMPT_CHARS) {
    warnings.push(`ignoring ${field}: prompt must be at most ${MAX_DEFAULT_PROMPT_CHARS} characters`)
    return undefined
  }
  return prompt
}

/**
 * `interface.defaultPrompt`: a string (legacy) or a list. Invalid entries are dropped with a warning that names the
 * raw index; the limit counts accepted prompts, and the first entry met after 3 accepted ones stops the scan with
 * `maximum of 3 prompts is supported`. Returns null when nothing is accepted.
 */
export const normalizeDefaultPrompt = (
  value: unknown
): { readonly prompts: ReadonlyArray<string> | null; readonly warnings: ReadonlyArray<string> } => {
  const warnings: Array<string> = []
  const field = "interface.defaultPrompt"
  if (value === undefined || value === null) return { prompts: null, warnings }
  if (typeof value === "string") {
    const prompt = normalizePrompt(value, field, warnings)
    return { prompts: prompt === undefined ? null : [prompt], warnings }
  }
  if (!Array.isArray(value)) {
    warnings.push(`ignoring ${field}: expected a string or array of strings, found ${jsonKind(value)}`)
    return { prompts: null, warnings }
  }
  const prompts: Array<string> = []
  // `some` rather than `for...of`: once per listed plugin, in code not yet optimised (see FastJson.ts)
  value.some((item: unknown, index) => {
    if (prompts.length >= MAX_DEFAULT_PROMPTS) {
      warnings.push(`ignoring ${field}: maximum of ${MAX_DEFAULT_PROMPTS} prompts is supported`)
      return true
    }
    if (typeof item !== "string") {
      warnings.push(`ignoring ${field}[${index}]: expected a string, found ${jsonKind(item)}`)
      return false
    }
    const prompt = normalizePrompt(item, `${field}[${index}]`, warnings)
    if (prompt !== undefined) prompts.push(prompt)
    return false
  })
  return { prompts: prompts.length > 0 ? prompts : null, warnings }
}

const underSlash = new Map<string, ManifestPathResolution>()
const MAX_REMEMBERED_PATHS = 4096

/**
 * `resolveManifestPath` for one plugin root. Its checks look at the value only, so for a normalised absolute root the
 * outcome under `/` is remembered per field and value, and the root is put in front of it.
 */
const pathResolver = (pluginRoot: string) => {
  const normalRoot = isAbsolute(pluginRoot) && normalize(pluginRoot) === pluginRoot
  return (field: string, value: string | null | undefined): ManifestPathResolution =>
    normalRoot ? resolveUnder(pluginRoot, field, value) : resolveManifestPath(pluginRoot, field, value)
}

const resolveUnder = (pluginRoot: string, field: string, value: string | null | undefined): ManifestPathResolution => {
  if (value === undefined || value === null || value.length === 0) return resolveManifestPath(pluginRoot, field, value)
  const key = `${field}\u0000${value}`
  let resolved = underSlash.get(key)
  if (resolved === undefined) {
    resolved = resolveManifestPath("/", field, value)
    if (underSlash.size < MAX_REMEMBERED_PATHS) underSlash.set(key, resolved)
  }
  if (resolved.path === undefined || pluginRoot === "/") return resolved
  return { ...resolved, path: `${pluginRoot}${resolved.path}` }
}

const decodeInterface = (
  raw: RawInterface,
  resolvePath: (field: string, value: string | null | undefined) => ManifestPathResolution,
  warnings: Array<string>
): PluginManifestInterface | null => {
  const prompt = normalizeDefaultPrompt(raw.defaultPrompt)
  if (prompt.warnings.length > 0) warnings.push(...prompt.warnings)
  const asset = (field: string, value: string | null | undefined): string | null => {
    const resolved = resolvePath(field, value)
    if (resolved.warning !== undefined) warnings.push(resolved.warning)
    return resolved.path ?? null
  }
  const iface: PluginManifestInterface = {
    displayName: raw.displayName ?? null,
    shortDescription: raw.shortDescription ?? null,
    longDescription: raw.longDescription ?? null,
    developerName: raw.developerName ?? null,
    category: raw.category ?? null,
    capabilities: raw.capabilities ?? [],
    websiteUrl: raw.websiteUrl ?? raw.websiteURL ?? null,
    privacyPolicyUrl: raw.privacyPolicyUrl ?? raw.privacyPolicyURL ?? null,
    termsOfServiceUrl: raw.termsOfServiceUrl ?? raw.termsOfServiceURL ?? null,
    defaultPrompt: prompt.prompts,
    brandColor: raw.brandColor ?? null,
    composerIcon: asset("interface.composerIcon", raw.composerIcon),
    logo: asset("interface.logo", raw.logo),
    // invalid entries are dropped, duplicates and order kept (verified)
    screenshots: raw.screenshots === undefined || raw.screenshots.length === 0 ? [] : raw.screenshots.flatMap((s) => {
      const path = asset("interface.screenshots", s)
      return path === null ? [] : [path]
    })
  }
  // `interface` is None when every field is empty; `""` still counts as a value (verified `displayName:""`)
  const present = iface.displayName !== null || iface.shortDescription !== null || iface.longDescription !== null ||
    iface.developerName !== null || iface.category !== null || iface.websiteUrl !== null || iface.privacyPolicyUrl !== null ||
    iface.termsOfServiceUrl !== null || iface.defaultPrompt !== null || iface.brandColor !== null ||
    iface.composerIcon !== null || iface.logo !== null || iface.capabilities.length > 0 || iface.screenshots.length > 0
  return present ? iface : null
}

/** the manifest's `name`, or the plugin directory's name when that is blank */
const effectiveName = (rawName: string, pluginRoot: string): string =>
  trimWhitespace(rawName).length === 0 ? basename(pluginRoot) : rawName

const toDecodedManifest = ({ value: raw, version }: ManifestDocument, pluginRoot: string): DecodedManifest => {
  const warnings: Array<string> = []
  const resolvePath = pathResolver(pluginRoot)
  const iface = raw.interface === undefined || raw.interface === null ? null : decodeInterface(raw.interface, resolvePath, warnings)
  const component = (key: "skills" | "mcpServers" | "apps"): string | null => {
    const resolved = resolvePath(key, raw[key])
    if (resolved.warning !== undefined) warnings.push(resolved.warning)
    return resolved.path ?? null
  }
  const skills = component("skills")
  const mcpServers = component("mcpServers")
  const apps = component("apps")
  const rawName = raw.name ?? ""
  return {
    manifest: {
      name: effectiveName(rawName, pluginRoot),
      rawName,
      version,
      description: raw.description ?? null,
      skills,
      mcpServers,
      apps,
      interface: iface
    },
    warnings
  }
}

/**
 * Decodes manifest text the way codex 0.116.0 does (serde_json, unknown keys ignored, wrong types fatal) and applies
 * the lenient rules: bad component/asset paths and bad `defaultPrompt` entries are dropped with a warning.
 * A JSON `[]` is accepted as an empty manifest (serde's sequence form of an all-default struct). A plainly valid
 * manifest is read with `JSON.parse`; anything else goes through the serde emulation, which decides it.
 */
export const decodeManifestText = (text: string, pluginRoot: string): Result.Result<DecodedManifest, ManifestError> => {
  // no `pipe`: once per listed plugin, and its dual-API machinery is costly while not yet optimised
  const document = readManifestDocument(text)
  return Result.isFailure(document)
    ? Result.fail(new ManifestError({ message: document.failure }))
    : Result.succeed(toDecodedManifest(document.success, pluginRoot))
}

/**
 * `decodeManifestText(text, pluginRoot)`'s `manifest.name`, or its failure: the same decode decides, but the paths and
 * prompts it does not depend on are not resolved (all an install checks of the manifest is that it is valid, and
 * its name).
 */
export const decodeManifestName = (text: string, pluginRoot: string): Result.Result<string, ManifestError> => {
  const document = readManifestDocument(text)
  return Result.isFailure(document)
    ? Result.fail(new ManifestError({ message: document.failure }))
    : Result.succeed(effectiveName(document.success.value.name ?? "", pluginRoot))
}

/** `decodeManifestText` through the serde emulation only (the reference for the fast path's results). */
export const decodeManifestTextExact = (text: string, pluginRoot: string): Result.Result<DecodedManifest, ManifestError> =>
  readManifestDocumentExact(text).pipe(
    Result.mapError((message) => new ManifestError({ message })),
    Result.map((document) => toDecodedManifest(document, pluginRoot))
  )

/** Same as `decodeManifestText` for an already-parsed value (duplicate keys can no longer be detected). */
export const decodeManifest = (value: unknown, pluginRoot: string): Result.Result<DecodedManifest, ManifestError> =>
  decodeManifestText(JSON.stringify(value) ?? "null", pluginRoot)

/**
 * The wire `PluginInterface` of a listed plugin: the manifest interface, with the marketplace `category` winning
 * when given (even `""`) and creating an interface when the manifest has none or is missing/invalid. Null when
 * neither exists.
 */
export const toWireInterface = (
  manifest: PluginManifest | null | undefined,
  marketplaceCategory?: string | null
): WirePluginInterface | null => wireInterfaceOf(manifest?.interface ?? null, marketplaceCategory)

/** `toWireInterface` from the manifest's interface alone (null: no manifest, or one without an interface). */
export const wireInterfaceOf = (
  base: PluginManifestInterface | null,
  marketplaceCategory?: string | null
): WirePluginInterface | null => {
  const category = marketplaceCategory ?? base?.category ?? null
  if (base === null && (marketplaceCategory === undefined || marketplaceCategory === null)) return null
  return {
    displayName: base?.displayName ?? null,
    shortDescription: base?.shortDescription ?? null,
    longDescription: base?.longDescription ?? null,
    developerName: base?.developerName ?? null,
    category,
    capabilities: base?.capabilities ?? [],
    websiteUrl: base?.websiteUrl ?? null,
    privacyPolicyUrl: base?.privacyPolicyUrl ?? null,
    termsOfServiceUrl: base?.termsOfServiceUrl ?? null,
    defaultPrompt: base?.defaultPrompt ?? null,
    brandColor: base?.brandColor ?? null,
    composerIcon: base?.composerIcon ?? null,
    logo: base?.logo ?? null,
    screenshots: base?.screenshots ?? []
  }
}
