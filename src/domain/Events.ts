import { Schema } from "effect"
import { ObservedCuratedPlugin, SyncDecisions } from "./RemoteSync.ts"

/** Who or what caused a state change; every event carries one. */
export const Actor = Schema.Literals([
  "rpc",
  "cli",
  "remote-sync",
  "curated-sync",
  "config-edit",
  "default-policy",
  "repair",
  "host"
])
export type Actor = typeof Actor.Type

export const EventCause = Schema.Struct({
  actor: Actor,
  requestId: Schema.optionalKey(Schema.String),
  client: Schema.optionalKey(Schema.String),
  syncId: Schema.optionalKey(Schema.String)
})
export type EventCause = typeof EventCause.Type

export const InstallPolicy = Schema.Literals(["NOT_AVAILABLE", "AVAILABLE", "INSTALLED_BY_DEFAULT"])
export type InstallPolicy = typeof InstallPolicy.Type
export const AuthPolicy = Schema.Literals(["ON_INSTALL", "ON_USE"])
export type AuthPolicy = typeof AuthPolicy.Type

/** What an install records; the `InstallPlugin` command carries the same fields. */
export const installationFields = {
  pluginId: Schema.String,
  pluginName: Schema.String,
  marketplaceName: Schema.String,
  marketplacePath: Schema.String,
  sourcePath: Schema.String,
  version: Schema.String,
  /** sha256 of the canonical tree manifest blob of the copied content */
  treeHash: Schema.String,
  installPolicy: InstallPolicy,
  authPolicy: AuthPolicy,
  cause: EventCause
}

export class PluginInstalled extends Schema.TaggedClass<PluginInstalled>()("PluginInstalled", installationFields) {}

export class PluginEnabled extends Schema.TaggedClass<PluginEnabled>()("PluginEnabled", {
  pluginId: Schema.String,
  cause: EventCause
}) {}

export class PluginDisabled extends Schema.TaggedClass<PluginDisabled>()("PluginDisabled", {
  pluginId: Schema.String,
  cause: EventCause
}) {}

export class PluginUninstalled extends Schema.TaggedClass<PluginUninstalled>()("PluginUninstalled", {
  pluginId: Schema.String,
  cause: EventCause
}) {}

/** A torn tail found at open was truncated; the removed bytes are kept in quarantine. */
export class LogTailRepaired extends Schema.TaggedClass<LogTailRepaired>()("LogTailRepaired", {
  bytes: Schema.Number,
  sha256: Schema.String,
  quarantineFile: Schema.String,
  /** absent when the log adapter recorded the repair itself, mid-transaction */
  cause: Schema.optionalKey(EventCause)
}) {}

/** What config.toml says about one plugin: its `[plugins."<id>"]` table, and that table's `enabled` boolean. */
export const ConfigEntryState = Schema.Struct({
  configured: Schema.Boolean,
  /** null when the table is absent or has no boolean `enabled` */
  enabled: Schema.NullOr(Schema.Boolean)
})
export type ConfigEntryState = typeof ConfigEntryState.Type

/**
 * A hand edit of config.toml changed a key the ledger manages (a plugin's table or its `enabled`); the ledger
 * adopts it instead of overwriting it. `configHash` is the sha256 of the file as read.
 */
export class PluginStateChangedExternally extends Schema.TaggedClass<PluginStateChangedExternally>()(
  "PluginStateChangedExternally",
  {
    pluginId: Schema.String,
    before: ConfigEntryState,
    after: ConfigEntryState,
    configHash: Schema.String,
    cause: EventCause
  }
) {}

/** config.toml could not be read as Codex reads it; recorded once per distinct content, and never rewritten. */
export class ConfigUnreadable extends Schema.TaggedClass<ConfigUnreadable>()("ConfigUnreadable", {
  configHash: Schema.String,
  message: Schema.String,
  cause: EventCause
}) {}

/** What was wrong with one path of a plugin's cache tree. */
export const TreeProblem = Schema.Struct({
  /** relative to the plugin's cache dir (`<version>/...`); `.` for the whole dir */
  path: Schema.String,
  kind: Schema.Literals(["missing", "modified", "extra", "type", "mode"])
})
export type TreeProblem = typeof TreeProblem.Type

/** A plugin cache tree that no longer matched its installed content was restored from the blob store. */
export class ProjectionRepaired extends Schema.TaggedClass<ProjectionRepaired>()("ProjectionRepaired", {
  pluginId: Schema.String,
  version: Schema.String,
  treeHash: Schema.String,
  problems: Schema.Array(TreeProblem),
  cause: EventCause
}) {}

/**
 * One remote curated sync, successful or not: what was asked (no credentials: the URL without user info, and which
 * auth headers were sent), the response body as a blob (sha256, stored and fsynced before this event), what the
 * engine observed of the curated plugins, and the decisions. The plugin events it caused follow it, with actor
 * `remote-sync` and its `syncId`. Projects to nothing.
 */
export class RemoteSyncRecorded extends Schema.TaggedClass<RemoteSyncRecorded>()("RemoteSyncRecorded", {
  syncId: Schema.String,
  request: Schema.NullOr(Schema.Struct({
    method: Schema.String,
    url: Schema.String,
    /** names of the auth headers sent (`authorization`, `chatgpt-account-id`), never their values */
    authHeaders: Schema.Array(Schema.String)
  })),
  status: Schema.NullOr(Schema.Number),
  responseBlob: Schema.NullOr(Schema.String),
  responseBytes: Schema.NullOr(Schema.Number),
  /** the curated marketplace and mirror sha the decisions were made against (null when it was not available) */
  marketplaceName: Schema.NullOr(Schema.String),
  curatedSha: Schema.NullOr(Schema.String),
  observed: Schema.Array(ObservedCuratedPlugin),
  decisions: SyncDecisions,
  /** the reference's error text (`remoteSyncError`), null when the sync was applied */
  error: Schema.NullOr(Schema.String),
  cause: EventCause
}) {}

/**
 * The curated marketplace mirror (`.tmp/plugins`) now holds `sha` (the ledger swapped it in, or found that something
 * else, e.g. Codex, did). Projects to nothing: the mirror is a download, not a projection of the log.
 */
export class CuratedMirrorUpdated extends Schema.TaggedClass<CuratedMirrorUpdated>()("CuratedMirrorUpdated", {
  sha: Schema.String,
  previousSha: Schema.NullOr(Schema.String),
  /** the repository URL without user info; null when the ledger did not fetch it itself */
  repository: Schema.NullOr(Schema.String),
  marketplaceName: Schema.NullOr(Schema.String),
  plugins: Schema.Array(Schema.String),
  cause: EventCause
}) {}

/**
 * An installed plugin's cache was set back to the content it had at `toSeq` (kept by hash in the blob store); its
 * config.toml table is left as it is. `version` is the version dir of that content.
 */
export class PluginRolledBack extends Schema.TaggedClass<PluginRolledBack>()("PluginRolledBack", {
  pluginId: Schema.String,
  fromTreeHash: Schema.String,
  toTreeHash: Schema.String,
  fromVersion: Schema.String,
  version: Schema.String,
  /** seq of the install (or rollback) whose content is restored */
  toSeq: Schema.Number,
  cause: EventCause
}) {}

/** A JSON object as recorded (configs, manifest capabilities): any JSON, checked as an object where it is decided. */
const JsonObject = Schema.Record(Schema.String, Schema.Unknown)

/**
 * A process plugin was registered: how to spawn it. `env` holds the values of ordinary variables only; the names in
 * `secretEnvKeys` have their values sealed with the credentials (never in the log).
 */
export class ProcessPluginAdded extends Schema.TaggedClass<ProcessPluginAdded>()("ProcessPluginAdded", {
  processPlugin: Schema.String,
  command: Schema.String,
  args: Schema.Array(Schema.String),
  env: Schema.Record(Schema.String, Schema.String),
  secretEnvKeys: Schema.Array(Schema.String),
  cwd: Schema.NullOr(Schema.String),
  /** 0: the host's default timeout */
  timeoutSeconds: Schema.Number,
  /** host->plugin calls per minute (0: no limit); absent: the host's default */
  rateLimitPerMinute: Schema.optionalKey(Schema.Number),
  cause: EventCause
}) {}

/**
 * Admin config, one user's config, the call timeout (0: the host's default) and/or the rate limit changed (configs
 * are not secret; credentials are apart).
 */
export class ProcessPluginConfigured extends Schema.TaggedClass<ProcessPluginConfigured>()("ProcessPluginConfigured", {
  processPlugin: Schema.String,
  adminConfig: Schema.optionalKey(JsonObject),
  userConfig: Schema.optionalKey(Schema.Struct({ userId: Schema.String, config: JsonObject })),
  timeoutSeconds: Schema.optionalKey(Schema.Number),
  rateLimitPerMinute: Schema.optionalKey(Schema.Number),
  cause: EventCause
}) {}

/** Credentials were sealed at rest: which keys, and a fingerprint of the sealed file; never the values. */
export class ProcessPluginCredentialsSet extends Schema.TaggedClass<ProcessPluginCredentialsSet>()("ProcessPluginCredentialsSet", {
  processPlugin: Schema.String,
  keys: Schema.Array(Schema.String),
  fingerprint: Schema.String,
  cause: EventCause
}) {}

export class ProcessPluginEnabled extends Schema.TaggedClass<ProcessPluginEnabled>()("ProcessPluginEnabled", {
  processPlugin: Schema.String,
  cause: EventCause
}) {}

/** `reason` is set when the host disabled it itself (auto-disable after repeated spawn/initialize failures). */
export class ProcessPluginDisabled extends Schema.TaggedClass<ProcessPluginDisabled>()("ProcessPluginDisabled", {
  processPlugin: Schema.String,
  reason: Schema.NullOr(Schema.String),
  cause: EventCause
}) {}

export class ProcessPluginRemoved extends Schema.TaggedClass<ProcessPluginRemoved>()("ProcessPluginRemoved", {
  processPlugin: Schema.String,
  cause: EventCause
}) {}

/** A spawn or initialize failed; these count toward the auto-disable (3 within an hour). */
export class ProcessPluginFailed extends Schema.TaggedClass<ProcessPluginFailed>()("ProcessPluginFailed", {
  processPlugin: Schema.String,
  stage: Schema.Literals(["spawn", "initialize"]),
  message: Schema.String,
  at: Schema.String,
  cause: EventCause
}) {}

/** The manifest an initialize returned, recorded when it differs from the last one recorded. */
export class ManifestObserved extends Schema.TaggedClass<ManifestObserved>()("ManifestObserved", {
  processPlugin: Schema.String,
  name: Schema.String,
  displayName: Schema.String,
  version: Schema.String,
  protocolVersion: Schema.String,
  capabilities: JsonObject,
  /** the manifest declares required credentials or an OAuth flow (absent in records made before it was recorded) */
  requiresAuthentication: Schema.optionalKey(Schema.Boolean),
  /** sha256 of the manifest as returned (canonical JSON) */
  manifestHash: Schema.String,
  previousVersion: Schema.NullOr(Schema.String),
  cause: EventCause
}) {}

export const PluginEvent = Schema.Union([
  PluginInstalled,
  PluginEnabled,
  PluginDisabled,
  PluginUninstalled,
  LogTailRepaired,
  PluginStateChangedExternally,
  ConfigUnreadable,
  ProjectionRepaired,
  RemoteSyncRecorded,
  CuratedMirrorUpdated,
  PluginRolledBack,
  ProcessPluginAdded,
  ProcessPluginConfigured,
  ProcessPluginCredentialsSet,
  ProcessPluginEnabled,
  ProcessPluginDisabled,
  ProcessPluginRemoved,
  ProcessPluginFailed,
  ManifestObserved
]).pipe(Schema.toTaggedUnion("_tag"))
export type PluginEvent = typeof PluginEvent.Type

/** Event types this version understands; the log adapter's own genesis record is not a plugin event. */
export const knownEventTypes: ReadonlySet<string> = new Set(Object.keys(PluginEvent.cases))
export const genesisEventType = "LogCreated"
