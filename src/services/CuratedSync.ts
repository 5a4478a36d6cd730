/**
 * The remote curated sync and the curated mirror, as command handling: network and git outside the ledger lock,
 * then under it (after adopting hand edits of config.toml) observe, decide (pure: `reconcileRemoteSync`, the mirror
 * refresh and the INSTALLED_BY_DEFAULT policy), store blobs, append, project. The remote response is stored as a
 * blob (fsynced) before the `RemoteSyncRecorded` event that names it; failed syncs are recorded too, with their error
 * and no plugin event, so a failure never edits config.toml.
 */
import { Effect, Result } from "effect"
import { randomUUID } from "node:crypto"
import type { BlobStore } from "../adapters/BlobStore.ts"
import { readTextOrEmpty } from "../adapters/FsQueries.ts"
import {
  cloneToStaging,
  DEFAULT_CURATED_REPOSITORY,
  type GitMirrorError,
  readMirrorSha,
  remoteHead,
  removeStaleMirrorDirs,
  type StagedMirror,
  swapIn
} from "../adapters/GitMirror.ts"
import { authRequiredError, fetchRemotePluginList, readChatgptAuth, redactUrl, type RemoteResponse } from "../adapters/RemoteClient.ts"
import type { TreeFs } from "../adapters/TreeFs.ts"
import { CuratedMirrorUpdated, type EventCause, PluginDisabled, PluginEnabled, type PluginEvent, PluginUninstalled, RemoteSyncRecorded } from "../domain/Events.ts"
import type { PluginState } from "../domain/PluginState.ts"
import { decodeRemoteResponse, noDecisions, type ObservedCuratedPlugin, reconcileRemoteSync, remoteListUrl, type SyncDecisions } from "../domain/RemoteSync.ts"
import type { Adoption } from "./ConfigAdopter.ts"
import { activeVersion, loadCuratedMarketplace, observeCurated, parsedConfigOf, storeCuratedInstall, usableSha } from "./CuratedLocal.ts"
import type { EngineError, Origin } from "./EngineApi.ts"
import type { EventLog, LogRecord, NewRecord } from "./EventLog.ts"
import { eventOf, newRecordOf } from "./EventRecords.ts"
import type { LedgerPaths } from "./LedgerPaths.ts"
import { applyConfigEdits } from "./ConfigEdits.ts"

export const DEFAULT_CHATGPT_BASE_URL = "https://chatgpt.com/backend-api/"

export interface CuratedSyncDeps {
  readonly fs: TreeFs
  readonly paths: LedgerPaths
  readonly log: EventLog["Service"]
  readonly blobs: BlobStore
  readonly pluginDir: (pluginId: string) => string
  readonly fold: (records: ReadonlyArray<LogRecord>) => PluginState
  readonly adopt: (state: PluginState, records: ReadonlyArray<LogRecord>) => Effect.Effect<Adoption>
  readonly projectAll: (all: ReadonlyArray<LogRecord>, appended: ReadonlyArray<LogRecord>) => Effect.Effect<void, EngineError>
  readonly toEngineError: (error: { readonly message: string }) => EngineError
  readonly now: () => string
}

export interface RemoteSyncView {
  readonly syncId: string
  readonly decisions: SyncDecisions
  /** the reference's `remoteSyncError` text; null when applied */
  readonly error: string | null
  /** seq of the `RemoteSyncRecorded` event */
  readonly seq: number | null
}

export interface CuratedSyncView {
  readonly skipped: string | null
  readonly sha: string | null
  readonly previousSha: string | null
  readonly updated: boolean
  /** configured curated plugins reinstalled at the mirror sha */
  readonly refreshed: ReadonlyArray<string>
  /** INSTALLED_BY_DEFAULT plugins installed by the default policy */
  readonly installedByDefault: ReadonlyArray<string>
}

export interface CuratedSyncOptions {
  readonly repository?: string | undefined
  readonly env?: NodeJS.ProcessEnv
  readonly gitTimeoutMs?: number
  readonly onProgress?: (line: string) => void
}

const causeWith = (actor: EventCause["actor"], origin: Origin | undefined, syncId?: string): EventCause => ({
  actor,
  ...(origin?.requestId === undefined ? {} : { requestId: origin.requestId }),
  ...(origin?.client === undefined ? {} : { client: origin.client }),
  ...(syncId === undefined ? {} : { syncId })
})

/** The sha of the mirror the log last recorded (`CuratedMirrorUpdated`), if any. */
export const lastRecordedMirrorSha = (records: ReadonlyArray<LogRecord>): string | undefined => {
  for (let i = records.length - 1; i >= 0; i--) {
    const record = records[i]
    if (record?.type !== "CuratedMirrorUpdated") continue
    const event = eventOf(record)
    if (event?._tag === "CuratedMirrorUpdated") return event.sha
  }
  return undefined
}

interface SyncOutcome {
  readonly append: ReadonlyArray<NewRecord>
  readonly value: { readonly error: string | null; readonly decisions: SyncDecisions }
}

export const makeCuratedSync = (deps: CuratedSyncDeps) => {
  const { blobs, fs, paths } = deps
  const readConfig = () => {
    try {
      return readTextOrEmpty(fs, paths.configPath)
    } catch {
      return ""
    }
  }

  interface Fetched {
    readonly url: string
    readonly response: RemoteResponse | undefined
    readonly blob: string | null
    /** set when the sync failed before the local part */
    readonly error: string | undefined
  }

  /** Auth, the request, the blob: everything before the lock. Never fails: a failure is the sync's error text. */
  const fetchRemote: Effect.Effect<Fetched> = Effect.gen(function*() {
    const url = remoteListUrl(parsedConfigOf(readConfig())?.chatgptBaseUrl ?? DEFAULT_CHATGPT_BASE_URL)
    const auth = yield* Effect.result(readChatgptAuth(fs, paths.authPath))
    if (Result.isFailure(auth)) return { url, response: undefined, blob: null, error: auth.failure.message }
    if (auth.success._tag !== "Chatgpt") return { url, response: undefined, blob: null, error: authRequiredError(auth.success) }
    const response = yield* Effect.result(fetchRemotePluginList(url, auth.success))
    if (Result.isFailure(response)) return { url, response: undefined, blob: null, error: response.failure.message }
    const stored = yield* Effect.result(blobs.putAll([response.success.body]))
    if (Result.isFailure(stored)) {
      return { url, response: response.success, blob: null, error: `failed to store the remote plugin sync response: ${String(stored.failure)}` }
    }
    const body = Buffer.from(response.success.body).toString("utf8")
    const ok = response.success.status >= 200 && response.success.status < 300
    return {
      url,
      response: response.success,
      blob: stored.success[0] ?? null,
      error: ok ? undefined : `remote plugin sync request to ${redactUrl(url)} failed with status ${response.success.statusText}: ${body}`
    }
  })

  const syncRemote = (origin?: Origin): Effect.Effect<RemoteSyncView, EngineError> =>
    Effect.gen(function*() {
      const syncId = randomUUID()
      const cause = causeWith("remote-sync", origin, syncId)
      const fetched = yield* fetchRemote
      const remote = fetched.error !== undefined || fetched.response === undefined
        ? Result.fail(fetched.error ?? "no response")
        : decodeRemoteResponse(redactUrl(fetched.url), Buffer.from(fetched.response.body).toString("utf8"))
      const recorded = (fields: {
        readonly error: string | null
        readonly marketplaceName: string | null
        readonly curatedSha: string | null
        readonly observed: ReadonlyArray<ObservedCuratedPlugin>
        readonly decisions: SyncDecisions
      }) =>
        new RemoteSyncRecorded({
          syncId,
          request: fetched.response === undefined && fetched.error !== undefined && !fetched.error.startsWith("failed to send")
            ? null
            : { method: "GET", url: redactUrl(fetched.url), authHeaders: fetched.response?.authHeaders ?? ["authorization"] },
          status: fetched.response?.status ?? null,
          responseBlob: fetched.blob,
          responseBytes: fetched.response?.body.byteLength ?? null,
          ...fields,
          cause
        })
      const result = yield* deps.log.transact(
        (records) =>
          Effect.gen(function*() {
            const ts = deps.now()
            const adoption = yield* deps.adopt(deps.fold(records), records)
            const toRecords = (events: ReadonlyArray<PluginEvent>): ReadonlyArray<NewRecord> => [
              ...adoption.records,
              ...events.map((event, index) => newRecordOf(event, `sync:${syncId}:${index}`, ts))
            ]
            const fail = (
              error: string,
              local?: { readonly marketplaceName: string; readonly observed: ReadonlyArray<ObservedCuratedPlugin> }
            ): SyncOutcome => ({
              append: toRecords([recorded({
                error,
                marketplaceName: local?.marketplaceName ?? null,
                curatedSha: usableSha(fs, paths) ?? null,
                observed: local?.observed ?? [],
                decisions: noDecisions
              })]),
              value: { error, decisions: noDecisions }
            })
            if (Result.isFailure(remote)) return fail(remote.failure)
            const marketplace = loadCuratedMarketplace(fs, paths)
            if (Result.isFailure(marketplace)) return fail(marketplace.failure)
            const configText = readConfig()
            const curated = observeCurated(fs, marketplace.success, parsedConfigOf(configText), deps.pluginDir)
            const local = { marketplaceName: marketplace.success.name, observed: curated.map((c) => c.observed) }
            const plan = reconcileRemoteSync(marketplace.success.name, local.observed, remote.success)
            if (Result.isFailure(plan)) return fail(plan.failure, local)
            const events: Array<PluginEvent> = []
            const sha = usableSha(fs, paths)
            for (const action of plan.success.actions) {
              const id = action.plugin.pluginId
              if (action._tag === "Enable") events.push(new PluginEnabled({ pluginId: id, cause }))
              else if (action._tag === "Uninstall") events.push(new PluginUninstalled({ pluginId: id, cause }))
              else {
                if (sha === undefined) return fail("local curated marketplace sha is not available", local)
                const entry = curated.find((c) => c.observed.pluginId === id)?.entry
                if (entry === undefined) return fail(`plugin \`${action.plugin.name}\` was not found`, local)
                const installed = yield* Effect.result(storeCuratedInstall(fs, blobs, marketplace.success, entry, id, sha, cause))
                if (Result.isFailure(installed)) return fail(installed.failure, local)
                events.push(installed.success)
              }
            }
            // the projection must be able to edit config.toml before anything is recorded
            const preview = applyConfigEdits(configText, events)
            if (Result.isFailure(preview)) return fail(`failed to persist remote plugin sync config: ${preview.failure.message}`, local)
            const head = recorded({ error: null, ...local, curatedSha: sha ?? null, decisions: plan.success.decisions })
            const applied: SyncOutcome = { append: toRecords([head, ...events]), value: { error: null, decisions: plan.success.decisions } }
            return applied
          }),
        (appended, all) => deps.projectAll(all, appended)
      ).pipe(Effect.mapError(deps.toEngineError))
      const head = result.appended.find((r) => r.id === `sync:${syncId}:0`)
      const view: RemoteSyncView = { syncId, decisions: result.value.decisions, error: result.value.error, seq: head?.seq ?? null }
      return view
    })

  /** `sync --curated`: update the mirror, record it, reinstall configured curated plugins at its sha, apply the default policy. */
  const syncCurated = (options: CuratedSyncOptions, origin?: Origin): Effect.Effect<CuratedSyncView, EngineError> =>
    Effect.gen(function*() {
      const env = options.env ?? process.env
      const progress = options.onProgress ?? (() => undefined)
      const none: CuratedSyncView = { skipped: null, sha: null, previousSha: null, updated: false, refreshed: [], installedByDefault: [] }
      const disabled = env["CODEX_DISABLE_CURATED_PLUGIN_SYNC"]
      if (disabled !== undefined && disabled !== "") {
        return { ...none, skipped: "curated plugin sync is disabled by CODEX_DISABLE_CURATED_PLUGIN_SYNC" }
      }
      const repository = options.repository ?? env["PLUGIN_LEDGER_CURATED_REPO"] ?? DEFAULT_CURATED_REPOSITORY
      const git = { timeoutMs: options.gitTimeoutMs ?? 30_000, onProgress: progress }
      const stale = removeStaleMirrorDirs(fs, paths)
      if (stale.length > 0) progress(`removed ${stale.length} stale staging/backup dir(s)`)
      progress(`checking ${redactUrl(repository)}`)
      const head = yield* remoteHead(repository, git)
      const current = readMirrorSha(fs, paths)
      let staged: StagedMirror | undefined
      if (current === head && loadCuratedMarketplace(fs, paths)._tag === "Success") progress(`mirror already at ${head}`)
      else staged = yield* cloneToStaging(fs, paths, repository, git)
      const cause = causeWith("curated-sync", origin)
      const defaultCause = causeWith("default-policy", origin)
      const key = `curated:${randomUUID()}`
      const result = yield* deps.log.transact(
        (records) =>
          Effect.gen(function*() {
            if (staged !== undefined) {
              progress(`swapping in ${staged.sha}`)
              yield* swapIn(fs, paths, staged)
            }
            const ts = deps.now()
            const adoption = yield* deps.adopt(deps.fold(records), records)
            const sha = usableSha(fs, paths)
            const marketplace = loadCuratedMarketplace(fs, paths)
            if (sha === undefined || Result.isFailure(marketplace)) {
              return yield* Effect.fail<string>(Result.isFailure(marketplace) ? marketplace.failure : "local curated marketplace sha is not available")
            }
            const previous = lastRecordedMirrorSha(records) ?? null
            const events: Array<PluginEvent> = []
            const configText = readConfig()
            const config = parsedConfigOf(configText)
            const curated = observeCurated(fs, marketplace.success, config, deps.pluginDir)
            if (previous !== sha) {
              events.push(new CuratedMirrorUpdated({
                sha,
                previousSha: previous,
                repository: redactUrl(repository),
                marketplaceName: marketplace.success.name,
                plugins: curated.map((c) => c.observed.name),
                cause
              }))
            }
            const refreshed: Array<string> = []
            const byDefault: Array<string> = []
            const state = adoption.state
            for (const { entry, observed } of curated) {
              const id = observed.pluginId
              const version = activeVersion(fs, deps.pluginDir(id))
              if (observed.configured && version !== sha) {
                // as the reference's refresh: the configured plugin is reinstalled at the sha; its table keeps `enabled`
                const installed = yield* storeCuratedInstall(fs, blobs, marketplace.success, entry, id, sha, cause)
                events.push(installed)
                if (observed.enabled === false) events.push(new PluginDisabled({ pluginId: id, cause }))
                refreshed.push(id)
              } else if (
                entry.installPolicy === "INSTALLED_BY_DEFAULT" && !state.plugins.has(id) && !observed.configured && version === undefined
              ) {
                // first seen: the log knows nothing about it (never installed, uninstalled or edited) and neither
                // config.toml nor the cache has it
                events.push(yield* storeCuratedInstall(fs, blobs, marketplace.success, entry, id, sha, defaultCause))
                byDefault.push(id)
              }
            }
            const preview = applyConfigEdits(configText, events)
            if (Result.isFailure(preview)) return yield* Effect.fail(`failed to persist curated plugin config: ${preview.failure.message}`)
            const view: CuratedSyncView = { ...none, sha, previousSha: previous, updated: previous !== sha, refreshed, installedByDefault: byDefault }
            return {
              append: [...adoption.records, ...events.map((event, index) => newRecordOf(event, `${key}:${index}`, ts))],
              value: view
            }
          }).pipe(Effect.mapError((error: string | GitMirrorError) => deps.toEngineError({ message: typeof error === "string" ? error : error.message }))),
        (appended, all) => deps.projectAll(all, appended)
      ).pipe(Effect.mapError(deps.toEngineError))
      if (staged !== undefined) yield* Effect.sync(() => fs.rmSync(staged.dir, { recursive: true, force: true }))
      return result.value
    }).pipe(Effect.mapError((error: EngineError | GitMirrorError) => deps.toEngineError(error)))

  return { syncRemote, syncCurated }
}
