import { Result, Schema } from "effect"
import type { DisablePlugin, EnablePlugin, Observed, PluginCommand, UninstallPlugin } from "./Commands.ts"
import { PluginDisabled, PluginEnabled, type PluginEvent, PluginInstalled, PluginUninstalled } from "./Events.ts"
import type { PluginState } from "./PluginState.ts"
import { decideRollback, type RollbackRefused } from "./Rollback.ts"

export class PluginNotInstalled extends Schema.TaggedError<PluginNotInstalled>()("PluginNotInstalled", {
  pluginId: Schema.String
}) {
  override get message(): string {
    return `plugin \`${this.pluginId}\` is not installed`
  }
}

export class PluginNotAvailable extends Schema.TaggedError<PluginNotAvailable>()("PluginNotAvailable", {
  pluginName: Schema.String,
  marketplaceName: Schema.String
}) {
  override get message(): string {
    return `plugin \`${this.pluginName}\` is not available for install in marketplace \`${this.marketplaceName}\``
  }
}

export type Rejection = PluginNotInstalled | PluginNotAvailable | RollbackRefused

const isInstalled = (state: PluginState, pluginId: string, observed: Observed): boolean =>
  state.plugins.get(pluginId)?.installed === true || observed.configured

/** The effective enabled flag is what Codex reads: the plugin's table in config.toml says `enabled = true`. */
const isEnabled = (observed: Observed): boolean => observed.configured && observed.configEnabled === true

const toggle = (
  state: PluginState,
  command: EnablePlugin | DisablePlugin,
  enable: boolean
): Result.Result<ReadonlyArray<PluginEvent>, Rejection> => {
  if (!isInstalled(state, command.pluginId, command.observed)) {
    return Result.fail(new PluginNotInstalled({ pluginId: command.pluginId }))
  }
  if (isEnabled(command.observed) === enable) return Result.succeed([])
  return Result.succeed([
    enable
      ? new PluginEnabled({ pluginId: command.pluginId, cause: command.cause })
      : new PluginDisabled({ pluginId: command.pluginId, cause: command.cause })
  ])
}

const uninstall = (state: PluginState, command: UninstallPlugin): Result.Result<ReadonlyArray<PluginEvent>, Rejection> => {
  const known = state.plugins.get(command.pluginId)?.installed === true
  const present = command.observed.configured || command.observed.cachePresent
  // Uninstall is idempotent: with nothing left to remove it succeeds and records nothing.
  return Result.succeed(
    known || present ? [new PluginUninstalled({ pluginId: command.pluginId, cause: command.cause })] : []
  )
}

/** Pure decision: the events a command produces against the current state, or its rejection. */
export const decide = (state: PluginState, command: PluginCommand): Result.Result<ReadonlyArray<PluginEvent>, Rejection> => {
  switch (command._tag) {
    case "InstallPlugin":
      if (command.installPolicy === "NOT_AVAILABLE") {
        return Result.fail(
          new PluginNotAvailable({ pluginName: command.pluginName, marketplaceName: command.marketplaceName })
        )
      }
      // Reinstalling recopies and re-enables, as the reference does.
      return Result.succeed([
        new PluginInstalled({
          pluginId: command.pluginId,
          pluginName: command.pluginName,
          marketplaceName: command.marketplaceName,
          marketplacePath: command.marketplacePath,
          sourcePath: command.sourcePath,
          version: command.version,
          treeHash: command.treeHash,
          installPolicy: command.installPolicy,
          authPolicy: command.authPolicy,
          cause: command.cause
        })
      ])
    case "EnablePlugin":
      return toggle(state, command, true)
    case "DisablePlugin":
      return toggle(state, command, false)
    case "UninstallPlugin":
      return uninstall(state, command)
    case "RollbackPlugin":
      return decideRollback(state, command)
  }
}
