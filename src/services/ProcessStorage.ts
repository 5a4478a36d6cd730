/**
 * The key-value storage process plugins reach with `storage/get|set|delete|list|clear`, scoped per user and
 * plugin: one JSON file per scope under `<root>/<plugin>/<user as hex>.json` (`system.json` for the plugin's own
 * scope, used by calls that name no user), replaced atomically on every write (durable across restarts). 100 keys and 1 MB per value, checked on writes; expired keys read as absent.
 * The plugin names only keys: the scope is bound by the host, so one user never sees another's data.
 */
import * as Path from "node:path"
import { Clock, Effect, Semaphore } from "effect"
import { writeFileAtomic } from "../adapters/AtomicFile.ts"
import { errnoCode, type FsPort } from "../adapters/FsPort.ts"
import { ReverseRpcError } from "../adapters/ProcessPeer.ts"
import { ErrorCodes, MAX_KEYS, MAX_VALUE_BYTES } from "../domain/ProcessProtocol.ts"

interface Entry {
  readonly data: unknown
  readonly expiresAt?: string
  readonly updatedAt: string
}
type Doc = Map<string, Entry>

export interface StorageScope {
  readonly plugin: string
  /** null: the plugin's own scope (the reference's system-plugin scope); hex names never collide with it */
  readonly userId: string | null
}

const invalidParams = (message: string) => new ReverseRpcError({ code: ErrorCodes.invalidParams, message })

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

export const makeProcessStorage = (fs: FsPort, root: string) =>
  Effect.gen(function*() {
    const lock = yield* Semaphore.make(1)
    const docs = new Map<string, Doc>()
    const fileOf = (scope: StorageScope) =>
      Path.join(root, scope.plugin, scope.userId === null ? "system.json" : `${Buffer.from(scope.userId, "utf8").toString("hex") || "_"}.json`)

    const load = (file: string): Doc => {
      const cached = docs.get(file)
      if (cached !== undefined) return cached
      const doc: Doc = new Map()
      try {
        const parsed: unknown = JSON.parse(fs.readFileSync(file).toString("utf8"))
        if (isRecord(parsed) && isRecord(parsed["entries"])) {
          for (const [key, value] of Object.entries(parsed["entries"])) {
            if (isRecord(value) && typeof value["updatedAt"] === "string") {
              doc.set(key, {
                data: value["data"],
                updatedAt: value["updatedAt"],
                ...(typeof value["expiresAt"] === "string" ? { expiresAt: value["expiresAt"] } : {})
              })
            }
          }
        }
      } catch (error) {
        if (errnoCode(error) !== "ENOENT" && !(error instanceof SyntaxError)) throw error
      }
      docs.set(file, doc)
      return doc
    }
    const save = (file: string, doc: Doc) => {
      fs.mkdirSync(Path.dirname(file), { recursive: true })
      const entries = Object.fromEntries([...doc].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      writeFileAtomic(fs, file, Buffer.from(JSON.stringify({ version: 1, entries })), 0o600)
    }
    const expired = (entry: Entry, nowMs: number) => entry.expiresAt !== undefined && Date.parse(entry.expiresAt) <= nowMs

    const keyOf = (params: unknown): Effect.Effect<string, ReverseRpcError> => {
      if (params === undefined || params === null) return Effect.fail(invalidParams("params is required"))
      if (!isRecord(params)) return Effect.fail(invalidParams("Invalid params: expected an object"))
      const key = params["key"]
      if (key === undefined) return Effect.fail(invalidParams("Invalid params: missing field `key`"))
      if (typeof key !== "string") return Effect.fail(invalidParams("Invalid params: `key` must be a string"))
      return Effect.succeed(key)
    }

    const io = <A>(f: () => A): Effect.Effect<A, ReverseRpcError> =>
      Effect.try({ try: f, catch: (e) => new ReverseRpcError({ code: ErrorCodes.internalError, message: `Storage error: ${String(e)}` }) })

    /** Handles one `storage/*` request of the plugin bound to `scope`. */
    const handle = (scope: StorageScope, method: string, params: unknown): Effect.Effect<unknown, ReverseRpcError> =>
      Effect.gen(function*() {
        const nowMs = yield* Clock.currentTimeMillis
        const file = fileOf(scope)
        const doc = yield* io(() => load(file))
        const live = () => [...doc].filter(([, e]) => !expired(e, nowMs))
        switch (method) {
          case "storage/get": {
            const key = yield* keyOf(params)
            const entry = doc.get(key)
            if (entry === undefined) return { data: null }
            if (expired(entry, nowMs)) {
              doc.delete(key)
              yield* io(() => save(file, doc))
              return { data: null }
            }
            return { data: entry.data, ...(entry.expiresAt === undefined ? {} : { expiresAt: entry.expiresAt }) }
          }
          case "storage/set": {
            const key = yield* keyOf(params)
            const p = isRecord(params) ? params : {}
            if (!Object.hasOwn(p, "data")) return yield* invalidParams("Invalid params: missing field `data`")
            const size = Buffer.byteLength(JSON.stringify(p["data"]) ?? "null")
            if (size > MAX_VALUE_BYTES) {
              return yield* invalidParams(`Storage value exceeds maximum size of 1MB (${size} bytes, limit ${MAX_VALUE_BYTES})`)
            }
            let expiresAt: string | undefined
            if (p["expiresAt"] !== undefined && p["expiresAt"] !== null) {
              const raw = p["expiresAt"]
              const ms = typeof raw === "string" && /^\d{4}-\d{2}-\d{2}T/.test(raw) ? Date.parse(raw) : Number.NaN
              if (Number.isNaN(ms)) return yield* invalidParams(`Invalid expiresAt timestamp: ${JSON.stringify(raw)}`)
              expiresAt = new Date(ms).toISOString()
            }
            const existing = doc.get(key)
            if ((existing === undefined || expired(existing, nowMs)) && live().length >= MAX_KEYS) {
              return yield* invalidParams(`Storage key limit exceeded (max ${MAX_KEYS} keys)`)
            }
            // expired keys are dropped on the way: they must not fill the file
            for (const [k, e] of doc) if (expired(e, nowMs)) doc.delete(k)
            doc.set(key, { data: p["data"], updatedAt: new Date(nowMs).toISOString(), ...(expiresAt === undefined ? {} : { expiresAt }) })
            yield* io(() => save(file, doc))
            return { success: true }
          }
          case "storage/delete": {
            const key = yield* keyOf(params)
            const entry = doc.get(key)
            const had = entry !== undefined && !expired(entry, nowMs)
            if (doc.delete(key)) yield* io(() => save(file, doc))
            return { deleted: had }
          }
          case "storage/list":
            return {
              keys: live()
                .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
                .map(([key, e]) => ({ key, updatedAt: e.updatedAt, ...(e.expiresAt === undefined ? {} : { expiresAt: e.expiresAt }) }))
            }
          case "storage/clear": {
            const deletedCount = live().length
            if (doc.size > 0) {
              doc.clear()
              yield* io(() => save(file, doc))
            }
            return { deletedCount }
          }
          default:
            return yield* new ReverseRpcError({ code: ErrorCodes.methodNotFound, message: `Unknown storage method: ${method}` })
        }
      }).pipe(lock.withPermits(1))

    /** Forgets a plugin's data of every user (the plugin was removed). */
    const removePlugin = (plugin: string) =>
      lock.withPermits(1)(Effect.sync(() => {
        for (const file of [...docs.keys()]) if (Path.basename(Path.dirname(file)) === plugin) docs.delete(file)
        fs.rmSync(Path.join(root, plugin), { recursive: true, force: true })
      }))

    return { handle, removePlugin }
  })
export type ProcessStorage = Effect.Success<ReturnType<typeof makeProcessStorage>>
