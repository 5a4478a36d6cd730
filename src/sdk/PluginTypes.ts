/**
 * Wire shapes of the process-plugin protocol as the host sends and reads them (field names camelCase; optional
 * fields omitted when absent). Only what plugins commonly touch is spelled out; unknown fields pass through,
 * because the protocol ignores unknown fields both ways.
 */

export type ContentType = "series" | "book"

/** A direct link to a series page on the plugin's site; `{externalId}` and `{config.<field>}` are filled in. */
export interface SeriesLinkTemplate {
  readonly source: string
  readonly urlTemplate: string
}

/** The plugin fronts a website: a search page (`{title}`), and optionally direct series links, first match wins. */
export interface WebLinksCapability {
  readonly searchUrlTemplate: string
  readonly seriesLinks?: ReadonlyArray<SeriesLinkTemplate>
}

export interface Capabilities {
  readonly metadataProvider?: ReadonlyArray<ContentType>
  readonly userReadSync?: boolean
  readonly externalIdSource?: string
  readonly userRecommendationProvider?: boolean
  readonly wantsFullMetadata?: boolean
  readonly wantsDetailedProgress?: boolean
  /** a pure declaration: the host never calls the plugin for it */
  readonly webLinks?: WebLinksCapability
  readonly [other: string]: unknown
}

export interface CredentialField {
  readonly key: string
  readonly label: string
  readonly description?: string
  readonly required?: boolean
  readonly sensitive?: boolean
  readonly credentialType?: "string" | "password" | "oauth"
}

/** Manifest fields the plugin author writes; unknown fields are passed to the host unchanged. */
export interface ManifestBase {
  readonly name: string
  readonly displayName: string
  readonly version: string
  readonly description?: string
  readonly author?: string
  readonly homepage?: string
  readonly requiredCredentials?: ReadonlyArray<CredentialField>
  readonly configSchema?: unknown
  readonly userConfigSchema?: unknown
  readonly pluginType?: "system" | "user"
  readonly oauth?: Record<string, unknown>
  readonly userDescription?: string
  readonly adminSetupInstructions?: string
  readonly userSetupInstructions?: string
  readonly searchURITemplate?: string
}

/** What `initialize` answers. `protocolVersion` is 1.x (the host checks the major version). */
export interface PluginManifest extends ManifestBase {
  readonly protocolVersion: string
  readonly capabilities: Capabilities
}

/** What a factory takes: it adds its own capability flags, and "1.0" when `protocolVersion` is left out. */
export interface ManifestFields extends ManifestBase {
  readonly protocolVersion?: string
  readonly capabilities?: Capabilities
}

/** `initialize` params as the host sends them (all optional). */
export interface InitializeParams {
  readonly config?: Record<string, unknown>
  readonly adminConfig?: Record<string, unknown>
  readonly userConfig?: Record<string, unknown>
  readonly credentials?: Record<string, unknown>
  readonly dataDir?: string
  readonly userId?: string
  readonly userPluginId?: string
  readonly logLevel?: string
  readonly [other: string]: unknown
}

export interface SearchResult {
  readonly externalId: string
  readonly title: string
  readonly alternateTitles: ReadonlyArray<string>
  readonly year?: number
  readonly coverUrl?: string
  readonly relevanceScore?: number
  readonly preview?: Record<string, unknown>
}

export interface SearchResponse {
  readonly results: ReadonlyArray<SearchResult>
  readonly nextCursor?: string
}

export interface SeriesSearchParams {
  readonly query: string
  readonly limit?: number
  readonly cursor?: string
}

export interface BookSearchParams {
  readonly isbn?: string
  readonly query?: string
  readonly author?: string
  readonly year?: number
  readonly limit?: number
  readonly cursor?: string
}

export interface GetParams {
  readonly externalId: string
}

export interface SeriesMatchParams {
  readonly title: string
  readonly year?: number
  readonly author?: string
}

export interface BookMatchParams {
  readonly title: string
  readonly authors?: ReadonlyArray<string>
  readonly isbn?: string
  readonly year?: number
  readonly publisher?: string
}

/** `metadata/{series,book}/get`: `externalId` and `externalUrl` are required, the rest optional. */
export interface MetadataRecord {
  readonly externalId: string
  readonly externalUrl: string
  readonly title?: string
  readonly summary?: string
  readonly [other: string]: unknown
}

export type SyncStatus = "reading" | "completed" | "on_hold" | "dropped" | "plan_to_read"

export interface SyncEntry {
  readonly externalId: string
  readonly status: SyncStatus
  readonly progress?: Record<string, unknown>
  readonly score?: number
  readonly title?: string
  readonly latestUpdatedAt?: string
  readonly [other: string]: unknown
}

export interface SyncEntryResult {
  readonly externalId: string
  readonly status: "created" | "updated" | "unchanged" | "failed"
  readonly error?: string
}

export interface SyncUserInfo {
  readonly externalId: string
  readonly username: string
  readonly avatarUrl?: string
  readonly profileUrl?: string
}

export interface SyncPullParams {
  readonly since?: string
  readonly limit?: number
  readonly cursor?: string
}

export interface SyncPullResponse {
  readonly entries: ReadonlyArray<SyncEntry>
  readonly nextCursor?: string
  readonly hasMore: boolean
}

export interface SyncPushResponse {
  readonly success: ReadonlyArray<SyncEntryResult>
  readonly failed: ReadonlyArray<SyncEntryResult>
}

export interface SyncStatusResponse {
  readonly lastSyncAt?: string
  readonly externalCount?: number
  readonly pendingPush: number
  readonly pendingPull: number
  readonly conflicts: number
}

export interface UserLibraryEntry {
  readonly seriesId: string
  readonly title: string
  readonly [other: string]: unknown
}

export interface RecommendationsParams {
  readonly library: ReadonlyArray<UserLibraryEntry>
  readonly limit?: number
  readonly excludeIds?: ReadonlyArray<string>
}

export interface Recommendation {
  readonly externalId: string
  readonly title: string
  /** 0..1 */
  readonly score: number
  readonly reason: string
  readonly basedOn?: ReadonlyArray<string>
  readonly inLibrary?: boolean
  readonly [other: string]: unknown
}

export interface RecommendationsResponse {
  readonly recommendations: ReadonlyArray<Recommendation>
  readonly generatedAt?: string
  readonly cached: boolean
}

export type DismissReason = "not_interested" | "already_read" | "already_owned"

export interface DismissParams {
  readonly externalId: string
  readonly reason?: DismissReason
}
