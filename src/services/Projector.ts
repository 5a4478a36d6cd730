/**
 * Projects the log into what Codex reads: plugin cache trees and `[plugins."<id>"]` tables of config.toml.
 * Outputs are pure functions of the log (trees come from blobs, never from the marketplace again), written
 * atomically; `checkpoint.json` records the last projected seq and is written after every output, so a
 * crash anywhere is repaired by projecting again from the checkpoint (each step is idempotent).
 */
import { Context, Effect, Layer, Result, Schema } from "effect"
import * as Path from "node:path"
import { writeFileAtomic } from "../adapters/AtomicFile.ts"
import { makeBlobStore, sha256Hex } from "../adapters/BlobStore.ts"
import { removePluginTable, replacePluginTable, setPluginEnabled } from "../adapters/ConfigToml.ts"
import { describeError, errnoCode } from "../adapters/FsPort.ts"
import { LedgerFs } from "../adapters/LedgerFs.ts"
import { materialize, removeTree, sweepLeftovers } from "../adapters/PluginTree.ts"
import { PluginEvent } from "../domain/Events.ts"
import type { LogRecord } from "./EventLog.ts"
import { LedgerConfig } from "./LedgerConfig.ts"

export class ProjectionError extends Schema.TaggedError<ProjectionError>()("ProjectionError", {
  target: Schema.String,
  message: Schema.String
}) {}

export const Checkpoint = Schema.Struct({
  projectorVersion: Schema.Number,
  seq: Schema.Number,
  h: Schema.String,
  configHash: Schema.NullOr(Schema.String)
})
export type Checkpoint = typeof Checkpoint.Type

const projectorVersion = 1
const decodeCheckpoint = Schema.decodeUnknownResult(Schema.fromJsonString(Checkpoint))
const decodeEvent = Schema.decodeUnknownResult(PluginEvent)

/** Decodes a record's payload as a plugin event; records of other types (genesis) yield undefined. */
export const eventOf = (record: LogRecord): PluginEvent | undefined => {
  if (typeof record.data !== "object" || record.data === null) return undefined
  const decoded = decodeEvent({ ...record.data, _tag: record.type })
  return Result.isSuccess(decoded) ? decoded.success : undefined
}

const splitId = (pluginId: string) => {
  const at = pluginId.lastIndexOf("@")
  return { plugin: pluginId.slice(0, at), marketplace: pluginId.slice(at + 1) }
}

/** The config.toml edit an event projects to (Codex's semantics: install replaces the table, uninstall clears it). */
export const editConfig = (text: string, event: PluginEvent): Result.Result<string, { readonly message: string }> => {
  switch (event._tag) {
    case "PluginInstalled":
      return replacePluginTable(text, event.pluginId, true)
    case "PluginEnabled":
      return setPluginEnabled(text, event.pluginId, true)
    case "PluginDisabled":
      return setPluginEnabled(text, event.pluginId, false)
    case "PluginUninstalled":
      return removePluginTable(text, event.pluginId)
    case "LogTailRepaired":
      return Result.succeed(text)
  }
}

/** Applies the edits of several events in order; the first refusal wins. Used to check before appending. */
export const applyConfigEdits = (
  text: string,
  events: ReadonlyArray<PluginEvent>
): Result.Result<string, { readonly message: string }> => {
  let current = text
  for (const event of events) {
    const edited = editConfig(current, event)
    if (Result.isFailure(edited)) return edited
    current = edited.success
  }
  return Result.succeed(current)
}

export class Projector extends Context.Service<Projector, {
  /** projects every record newer than the checkpoint, in order, then advances the checkpoint */
  readonly project: (records: ReadonlyArray<LogRecord>) => Effect.Effect<void, ProjectionError>
  readonly checkpoint: Effect.Effect<Checkpoint | undefined>
  /** the cache directory of an installed version */
  readonly versionDir: (pluginId: string, version: string) => string
  readonly pluginDir: (pluginId: string) => string
}>()("plugin-ledger/services/Projector") {
  static readonly layer: Layer.Layer<Projector, never, LedgerConfig | LedgerFs> = Layer.effect(
    Projector,
    Effect.gen(function*() {
      const paths = yield* LedgerConfig
      const fs = yield* LedgerFs
      const blobs = makeBlobStore(fs, paths.blobsDir)
      const pluginDir = (pluginId: string) => {
        const { marketplace, plugin } = splitId(pluginId)
        return Path.join(paths.cacheDir, marketplace, plugin)
      }
      const versionDir = (pluginId: string, version: string) => Path.join(pluginDir(pluginId), version)

      const readCheckpoint = (): Checkpoint | undefined => {
        try {
          const decoded = decodeCheckpoint(fs.readFileSync(paths.checkpointPath).toString("utf8"))
          return Result.isSuccess(decoded) ? decoded.success : undefined
        } catch (error) {
          if (errnoCode(error) === "ENOENT") return undefined
          throw error
        }
      }
      const readConfig = (): string => {
        try {
          return fs.readFileSync(paths.configPath).toString("utf8")
        } catch (error) {
          if (errnoCode(error) === "ENOENT") return ""
          throw error
        }
      }

      const projectCache = (event: PluginEvent): void => {
        switch (event._tag) {
          case "PluginInstalled":
            // the whole <m>/<p> dir is replaced, as Codex does: version dirs of older installs go with it
            materialize(fs, blobs, event.treeHash, pluginDir(event.pluginId), { under: event.version })
            return
          case "PluginUninstalled":
            removeTree(fs, pluginDir(event.pluginId))
            return
          case "PluginEnabled":
          case "PluginDisabled":
          case "LogTailRepaired":
            return
        }
      }

      const projectSync = (records: ReadonlyArray<LogRecord>): void => {
        const checkpoint = readCheckpoint()
        const pending = records.filter((r) => r.seq > (checkpoint?.seq ?? 0))
        const last = pending.at(-1)
        if (last === undefined) return
        let config = readConfig()
        // written when any event edited it, even if a later one undid that: the file (mode, existence) then
        // does not depend on how the records were batched (live one by one, or a replay all at once)
        let touched = false
        for (const record of pending) {
          const event = eventOf(record)
          if (event === undefined) continue
          projectCache(event)
          const edited = editConfig(config, event)
          if (Result.isFailure(edited)) throw new ProjectionError({ target: paths.configPath, message: edited.failure.message })
          touched ||= edited.success !== config
          config = edited.success
        }
        if (touched) {
          fs.mkdirSync(paths.codexHome, { recursive: true })
          // 0600, as Codex writes config.toml (it may hold secrets; never widen it)
          writeFileAtomic(fs, paths.configPath, Buffer.from(config, "utf8"), 0o600)
        }
        const next: Checkpoint = {
          projectorVersion,
          seq: last.seq,
          h: last.h,
          configHash: sha256Hex(Buffer.from(config, "utf8"))
        }
        fs.mkdirSync(paths.ledgerDir, { recursive: true })
        writeFileAtomic(fs, paths.checkpointPath, Buffer.from(`${JSON.stringify(next)}\n`, "utf8"))
      }

      return Projector.of({
        versionDir,
        pluginDir,
        checkpoint: Effect.try({ try: readCheckpoint, catch: () => undefined }).pipe(Effect.catch(() => Effect.succeed(undefined))),
        project: (records) =>
          Effect.try({
            try: () => {
              sweepLeftovers(fs, paths.cacheDir)
              projectSync(records)
            },
            catch: (error) =>
              error instanceof ProjectionError
                ? error
                : new ProjectionError({ target: paths.codexHome, message: describeError(error) })
          })
      })
    })
  )
}
