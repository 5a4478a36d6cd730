import { Schema } from "effect"

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

export const PluginEvent = Schema.Union([
  PluginInstalled,
  PluginEnabled,
  PluginDisabled,
  PluginUninstalled,
  LogTailRepaired
]).pipe(Schema.toTaggedUnion("_tag"))
export type PluginEvent = typeof PluginEvent.Type

/** Event types this version understands; the log adapter's own genesis record is not a plugin event. */
export const knownEventTypes: ReadonlySet<string> = new Set(Object.keys(PluginEvent.cases))
export const genesisEventType = "LogCreated"
