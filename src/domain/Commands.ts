import { Schema } from "effect"
import { EventCause, installationFields } from "./Events.ts"

/** What the engine saw on disk for a plugin when the command was issued; observations arrive like time does. */
export const Observed = Schema.Struct({
  /** `[plugins."<id>"]` exists in the user config.toml */
  configured: Schema.Boolean,
  /** the value of its `enabled` key, when present */
  configEnabled: Schema.optionalKey(Schema.Boolean),
  /** `plugins/cache/<marketplace>/<plugin>` exists */
  cachePresent: Schema.Boolean
})
export type Observed = typeof Observed.Type

export class InstallPlugin extends Schema.TaggedClass<InstallPlugin>()("InstallPlugin", installationFields) {}

export class EnablePlugin extends Schema.TaggedClass<EnablePlugin>()("EnablePlugin", {
  pluginId: Schema.String,
  observed: Observed,
  cause: EventCause
}) {}

export class DisablePlugin extends Schema.TaggedClass<DisablePlugin>()("DisablePlugin", {
  pluginId: Schema.String,
  observed: Observed,
  cause: EventCause
}) {}

export class UninstallPlugin extends Schema.TaggedClass<UninstallPlugin>()("UninstallPlugin", {
  pluginId: Schema.String,
  observed: Observed,
  cause: EventCause
}) {}

/** Restore the content version chosen by `chooseRollbackTarget`; `contentAvailable`: its blobs are all present. */
export class RollbackPlugin extends Schema.TaggedClass<RollbackPlugin>()("RollbackPlugin", {
  pluginId: Schema.String,
  toSeq: Schema.Number,
  toTreeHash: Schema.String,
  version: Schema.String,
  contentAvailable: Schema.Boolean,
  cause: EventCause
}) {}

export type PluginCommand = InstallPlugin | EnablePlugin | DisablePlugin | UninstallPlugin | RollbackPlugin
