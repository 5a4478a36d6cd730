/**
 * Rollback: an installed plugin's cache set back to an earlier content version. Every install recorded the tree
 * hash of the content it copied, and the blobs keep that content, so an earlier version is restored from the log
 * alone. Which version: the one the plugin had at a given seq, or by default the install before the current
 * content's (so rolling back again walks further back). Pure.
 */
import { Result, Schema } from "effect"
import type { RollbackPlugin } from "./Commands.ts"
import { type PluginEvent, PluginRolledBack } from "./Events.ts"
import type { PluginState } from "./PluginState.ts"

export class RollbackRefused extends Schema.TaggedError<RollbackRefused>()("RollbackRefused", {
  pluginId: Schema.String,
  reason: Schema.Literals(["NotInstalled", "NoEarlierVersion", "NotInstalledAt", "FutureSeq", "ContentMissing"]),
  message: Schema.String
}) {}

/** A content version of a plugin: the install that copied it (`origin`), its tree hash and version dir. */
export interface ContentVersion {
  readonly origin: number
  readonly treeHash: string
  readonly version: string
}

/** `plugin/rollback`'s answer: `changed` false when the plugin already had that content (nothing recorded). */
export interface PluginRollbackView {
  readonly pluginId: string
  readonly changed: boolean
  /** seq of the `PluginRolledBack` event, null when nothing was recorded */
  readonly seq: number | null
  /** the plugin's version dir and tree hash now */
  readonly version: string | null
  readonly treeHash: string | null
  /** seq of the install whose content was restored; null when nothing was recorded */
  readonly restoredFromSeq: number | null
}

/** What `chooseRollbackTarget` found: the version to restore, or that the plugin already has it. */
export type RollbackTarget =
  | { readonly _tag: "Restore"; readonly target: ContentVersion }
  | { readonly _tag: "AlreadyCurrent"; readonly target: ContentVersion }

const sameContent = (a: ContentVersion, b: ContentVersion): boolean => a.treeHash === b.treeHash && a.version === b.version

const refused = (pluginId: string, reason: RollbackRefused["reason"], message: string) =>
  Result.fail(new RollbackRefused({ pluginId, reason, message }))

/**
 * Picks the content to restore from the plugin's own events (in log order, with their seqs). `toSeq`: the content
 * it had right after that seq; without it, the newest earlier install whose content differs from the current one.
 */
export const chooseRollbackTarget = (
  pluginId: string,
  events: ReadonlyArray<{ readonly seq: number; readonly event: PluginEvent }>,
  headSeq: number,
  toSeq: number | undefined
): Result.Result<RollbackTarget, RollbackRefused> => {
  const installs: Array<ContentVersion> = []
  let current: ContentVersion | undefined
  let atSeq: ContentVersion | undefined
  let installedAtSeq = false
  for (const { event, seq } of events) {
    switch (event._tag) {
      case "PluginInstalled":
        current = { origin: seq, treeHash: event.treeHash, version: event.version }
        installs.push(current)
        break
      case "PluginRolledBack":
        current = { origin: event.toSeq, treeHash: event.toTreeHash, version: event.version }
        break
      case "PluginUninstalled":
        current = undefined
        break
      default:
        break
    }
    if (toSeq !== undefined && seq <= toSeq) {
      atSeq = current
      installedAtSeq = current !== undefined
    }
  }
  if (current === undefined) return refused(pluginId, "NotInstalled", `plugin \`${pluginId}\` is not installed`)
  if (toSeq !== undefined) {
    if (toSeq > headSeq) return refused(pluginId, "FutureSeq", `seq ${toSeq} is beyond the end of the log (seq ${headSeq})`)
    if (!installedAtSeq || atSeq === undefined) {
      return refused(pluginId, "NotInstalledAt", `plugin \`${pluginId}\` was not installed at seq ${toSeq}`)
    }
    return Result.succeed({ _tag: sameContent(atSeq, current) ? "AlreadyCurrent" : "Restore", target: atSeq })
  }
  const now = current
  const earlier = installs.findLast((v) => v.origin < now.origin && !sameContent(v, now))
  if (earlier === undefined) {
    return refused(pluginId, "NoEarlierVersion", `plugin \`${pluginId}\` has no earlier content version to roll back to`)
  }
  return Result.succeed({ _tag: "Restore", target: earlier })
}

/** The rollback's event against the current state: refused when not installed or its content is gone. */
export const decideRollback = (
  state: PluginState,
  command: RollbackPlugin
): Result.Result<ReadonlyArray<PluginEvent>, RollbackRefused> => {
  const status = state.plugins.get(command.pluginId)
  if (status === undefined || !status.installed || status.treeHash === undefined || status.version === undefined) {
    return refused(command.pluginId, "NotInstalled", `plugin \`${command.pluginId}\` is not installed`)
  }
  if (!command.contentAvailable) {
    return refused(
      command.pluginId,
      "ContentMissing",
      `the content of \`${command.pluginId}\` at seq ${command.toSeq} (tree ${command.toTreeHash}) is no longer in the blob store`
    )
  }
  if (status.treeHash === command.toTreeHash && status.version === command.version) return Result.succeed([])
  return Result.succeed([
    new PluginRolledBack({
      pluginId: command.pluginId,
      fromTreeHash: status.treeHash,
      toTreeHash: command.toTreeHash,
      fromVersion: status.version,
      version: command.version,
      toSeq: command.toSeq,
      cause: command.cause
    })
  ])
}
