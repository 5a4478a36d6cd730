/**
 * The capability answer for a state of the log: the plugins the ledger says are installed and enabled, read with
 * the bundle reader `plugin/read` uses. Now: from the cache dirs Codex reads (memoized per plugin until an event
 * touches it). At a past point (`--at`): from the records up to it and the trees in the blob store, extracted
 * into a scratch dir that is removed afterwards, paths reported as the cache dirs they had then. The plugins
 * feature flag and the user's `[mcp_servers]` names come from today's `config.toml` (the log does not hold them).
 */
import { Context, Effect, Layer, Result } from "effect"
import * as NodeFs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { attempt } from "../adapters/AtomicFile.ts"
import { makeBlobStore } from "../adapters/BlobStore.ts"
import { parseConfig } from "../adapters/ConfigToml.ts"
import { describeError } from "../adapters/FsPort.ts"
import { isDirectory, readTextOrEmpty } from "../adapters/FsQueries.ts"
import { LedgerFs } from "../adapters/LedgerFs.ts"
import { type PluginBundleContents, PluginBundle } from "../adapters/PluginBundle.ts"
import { materialize } from "../adapters/PluginTree.ts"
import { nodeTreeFs } from "../adapters/TreeFs.ts"
import { userMcpServerNames } from "../adapters/UserMcpServers.ts"
import { type Capabilities, deriveCapabilities, type LoadedBundle, type PluginInput } from "../domain/Capabilities.ts"
import { collectMentionedPlugins, type MentionGuidance, type MentionInput, mentionGuidance } from "../domain/PluginMentions.ts"
import { initialState, type PluginState, type PluginStatus } from "../domain/PluginState.ts"
import { activeVersion } from "./CuratedLocal.ts"
import { type EngineError, internalError, invalidRequest } from "./EngineApi.ts"
import { EventLog, type LogRecord } from "./EventLog.ts"
import { LedgerConfig } from "./LedgerConfig.ts"
import { type LedgerPaths } from "./LedgerPaths.ts"
import { foldRecords } from "./RecordFold.ts"
import { recordsUntil, type ReplayUntil } from "./Replay.ts"

export interface CapabilitiesView extends Capabilities {
  /** the last record of the state answered for (0: empty log) and its time */
  readonly seq: number
  readonly at: string | null
}

export interface MentionView {
  readonly seq: number
  readonly mentioned: ReadonlyArray<MentionGuidance>
  /** mentioned `name@marketplace`s that match no active plugin with capabilities */
  readonly unresolved: ReadonlyArray<string>
}

const PATH_MISSING = "path does not exist or is not a directory"

const toLoaded = (contents: PluginBundleContents, rebase: (p: string) => string): LoadedBundle => ({
  root: rebase(contents.root),
  manifestName: contents.manifest.name,
  description: contents.manifest.description,
  skillRoots: contents.skillRoots.map(rebase),
  skills: contents.skills.map((s) => ({ name: s.name, description: s.description, path: rebase(s.path) })),
  mcpServers: contents.mcpServerConfigs.map((s) => ({
    ...s,
    config: typeof s.config["cwd"] === "string" ? { ...s.config, cwd: rebase(s.config["cwd"]) } : s.config
  })),
  apps: contents.apps.map((a) => a.id),
  warnings: contents.warnings
})

const rebaser = (from: string, to: string) => (p: string): string =>
  p === from ? to : p.startsWith(`${from}/`) ? `${to}${p.slice(from.length)}` : p

/** Today's config.toml: the plugins feature flag and the `[mcp_servers]` names; unreadable counts as neither. */
const readUserConfig = (fs: LedgerFs["Service"], paths: LedgerPaths) => {
  let text = ""
  try {
    text = readTextOrEmpty(fs, paths.configPath)
  } catch {
    text = ""
  }
  const parsed = parseConfig(text)
  return {
    pluginsFeature: Result.isSuccess(parsed) && parsed.success.pluginsFeature === true,
    userMcpServers: userMcpServerNames(text)
  }
}

const candidates = (plugins: Iterable<PluginStatus>): ReadonlyArray<PluginStatus> =>
  [...plugins].filter((p) => p.installed || p.config.configured)

/**
 * Computes the answer for `records` (a prefix of the log). `source: "cache"` reads today's cache dirs (memo by
 * plugin, keyed by the event that last touched it); `"blobs"` extracts each tree from the blob store.
 */
export const capabilitiesOf = Effect.fn("Capabilities.of")(function*(
  paths: LedgerPaths,
  records: ReadonlyArray<LogRecord>,
  source: "cache" | "blobs",
  memo?: Map<string, PluginInput["load"]>,
  /** the state of `records`, folded incrementally by the caller (the feed asks after every event) */
  folded?: (records: ReadonlyArray<LogRecord>) => PluginState
) {
  const fs = yield* LedgerFs
  const bundles = yield* PluginBundle
  const state = folded?.(records) ?? foldRecords(initialState, records)
  const config = readUserConfig(fs, paths)
  const known = candidates(state.plugins.values())
  // Now, a plugin the log only knows from config.toml is installed when its cache has an active version, as for
  // Codex and plugin/list (a cache Codex wrote before the ledger, or another Codex process); the past has only the
  // trees the log recorded.
  const plugins = source === "blobs" ? known : known.map((p): PluginStatus => {
    if (p.installed) return p
    const version = activeVersion(fs, Path.join(paths.cacheDir, p.marketplaceName, p.pluginName))
    return version === undefined ? p : { ...p, installed: true, version }
  })
  const active = (p: PluginStatus) => config.pluginsFeature && p.installed && p.enabled && p.version !== undefined
  const cacheRoot = (p: PluginStatus) => Path.join(paths.cacheDir, p.marketplaceName, p.pluginName, p.version ?? "local")

  const readAt = (root: string, rebase: (p: string) => string) =>
    (isDirectory(fs, root)
      ? bundles.read(root).pipe(
        Effect.map((contents): PluginInput["load"] => ({ _tag: "Loaded", bundle: toLoaded(contents, rebase) })),
        Effect.catch((e) => Effect.succeed<PluginInput["load"]>({ _tag: "Failed", error: e.message }))
      )
      : Effect.succeed<PluginInput["load"]>({ _tag: "Failed", error: PATH_MISSING }))

  let loads: ReadonlyArray<PluginInput["load"]>
  if (source === "cache") {
    loads = yield* Effect.forEach(plugins, (p) => {
      if (!active(p)) return Effect.succeed(undefined)
      const root = cacheRoot(p)
      const key = `${p.pluginId}\u0000${p.lastSeq}\u0000${root}`
      const known = memo?.get(key)
      if (known !== undefined) return Effect.succeed(known)
      return readAt(root, (x) => x).pipe(Effect.tap((load) => Effect.sync(() => memo?.set(key, load))))
    }, { concurrency: 8 })
    if (memo !== undefined) {
      // only the keys of this state stay, so the memo never outgrows the plugins the log knows
      const live = new Set(plugins.map((p) => `${p.pluginId}\u0000${p.lastSeq}\u0000${cacheRoot(p)}`))
      for (const key of memo.keys()) if (!live.has(key)) memo.delete(key)
    }
  } else {
    const blobs = makeBlobStore(fs, paths.blobsDir)
    const scratch = yield* attempt(() => NodeFs.realpathSync(NodeFs.mkdtempSync(Path.join(Os.tmpdir(), "plugin-ledger-at-")))).pipe(
      Effect.mapError((e) => internalError(`cannot create a scratch directory: ${describeError(e)}`))
    )
    loads = yield* Effect.forEach(plugins, (p) => {
      if (!active(p) || p.treeHash === undefined || p.version === undefined) return Effect.succeed(undefined)
      const target = Path.join(scratch, p.marketplaceName, p.pluginName)
      const root = Path.join(target, p.version)
      return materialize(nodeTreeFs, blobs, p.treeHash, target, { under: p.version }).pipe(
        Effect.matchEffect({
          onFailure: (e) =>
            Effect.succeed<PluginInput["load"]>({ _tag: "Failed", error: `content ${p.treeHash} not readable from the blob store: ${describeError(e)}` }),
          onSuccess: () => readAt(root, rebaser(root, cacheRoot(p)))
        })
      )
    }).pipe(Effect.ensuring(Effect.sync(() => NodeFs.rmSync(scratch, { recursive: true, force: true }))))
  }

  const derived = deriveCapabilities({
    pluginsFeature: config.pluginsFeature,
    userMcpServers: config.userMcpServers,
    plugins: plugins.map((p, i) => ({ pluginId: p.pluginId, installed: p.installed, enabled: p.enabled, load: loads[i] }))
  })
  const last = records.at(-1)
  return { seq: last?.seq ?? 0, at: last?.ts ?? null, ...derived } satisfies CapabilitiesView
})

export const mentionsOf = (view: CapabilitiesView, items: ReadonlyArray<MentionInput>): MentionView => {
  const { mentioned, unresolved } = collectMentionedPlugins(items, view.summaries)
  return { seq: view.seq, mentioned: mentionGuidance(view, mentioned), unresolved }
}

export class CapabilitiesService extends Context.Service<CapabilitiesService, {
  /** the answer for the current state of the log */
  readonly current: Effect.Effect<CapabilitiesView, EngineError>
  /** the answer for the log up to `seq` with today's cache (the change feed's baseline) */
  readonly upTo: (seq: number) => Effect.Effect<CapabilitiesView, EngineError>
  /** a file at or below `path` changed outside the log (a hand edit of a cache): read the bundles there again */
  readonly forget: (path: string) => Effect.Effect<void>
  /** the answer for the log up to a seq or a time, from the blob store */
  readonly at: (until: ReplayUntil) => Effect.Effect<CapabilitiesView, EngineError>
  readonly mention: (items: ReadonlyArray<MentionInput>) => Effect.Effect<MentionView, EngineError>
}>()("plugin-ledger/services/Capabilities") {
  static readonly layer: Layer.Layer<CapabilitiesService, never, EventLog | LedgerConfig | LedgerFs | PluginBundle> = Layer.effect(
    CapabilitiesService,
    Effect.gen(function*() {
      const log = yield* EventLog
      const paths = yield* LedgerConfig
      const context = yield* Effect.context<LedgerFs | PluginBundle>()
      const memo = new Map<string, PluginInput["load"]>()
      // the fold of the records asked about last time, continued when they are a prefix of the new ones: folding the
      // whole log for every answer cost O(log size) per event
      let last: { readonly seq: number; readonly h: string; readonly state: PluginState } = { seq: 0, h: "", state: initialState }
      const folded = (records: ReadonlyArray<LogRecord>): PluginState => {
        const continues = last.seq > 0 && last.seq <= records.length && records[last.seq - 1]?.h === last.h
        const base = continues ? last : { seq: 0, h: "", state: initialState }
        const state = foldRecords(base.state, base.seq === 0 ? records : records.slice(base.seq))
        const head = records.at(-1)
        last = { seq: head?.seq ?? 0, h: head?.h ?? "", state }
        return state
      }
      // the live records (no copy): the change feed asks after every burst of appended records
      const current = log.live.pipe(
        Effect.flatMap((records) => capabilitiesOf(paths, records, "cache", memo, folded)),
        Effect.provide(context)
      )
      const upTo = (seq: number) =>
        log.live.pipe(
          Effect.flatMap((records) => {
            // records are in seq order: the prefix ends before the first record after `seq`
            const end = records.findIndex((r) => r.seq > seq)
            return capabilitiesOf(paths, end < 0 ? records : records.slice(0, end), "cache", memo, folded)
          }),
          Effect.provide(context)
        )
      const forget = (path: string) =>
        Effect.sync(() => {
          for (const key of memo.keys()) {
            const root = key.slice(key.lastIndexOf("\u0000") + 1)
            if (path === root || path.startsWith(`${root}/`) || root.startsWith(`${path}/`)) memo.delete(key)
          }
        })
      const at = (until: ReplayUntil) =>
        log.records.pipe(
          Effect.flatMap((records) => {
            const selected = recordsUntil(records, until, undefined)
            return Result.isFailure(selected)
              ? Effect.fail(invalidRequest(`cannot answer for that point: ${selected.failure}`))
              : capabilitiesOf(paths, selected.success, "blobs")
          }),
          Effect.provide(context)
        )
      const mention = (items: ReadonlyArray<MentionInput>) => Effect.map(current, (view) => mentionsOf(view, items))
      return CapabilitiesService.of({ current, upTo, forget, at, mention })
    })
  )
}
