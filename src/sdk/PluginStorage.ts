/**
 * The plugin side of host storage: `storage/get|set|delete|list|clear` requests written to stdout with ids of
 * the plugin's own (1, 2, 3, ...), answered by the host on stdin and matched here by id, in any order.
 * The host keeps the data per plugin (and per user for user plugins); the plugin only names keys.
 */

export interface StorageGetResult {
  /** Whatever was stored (decode it before use: it comes back from the host as untyped JSON), or null. */
  readonly data: unknown
  readonly expiresAt?: string
}

export interface StorageKeyEntry {
  readonly key: string
  readonly updatedAt: string
  readonly expiresAt?: string
}

/** A failed storage call: the host's JSON-RPC error code, or one of the SDK-local codes below. */
export class StorageError extends Error {
  readonly code: number
  readonly data: unknown

  constructor(message: string, code: number, data?: unknown) {
    super(message)
    this.name = "StorageError"
    this.code = code
    this.data = data
  }
}

/** SDK-local codes (never sent on the wire): the client was stopped, or the host did not answer in time. */
export const STORAGE_STOPPED = -1
export const STORAGE_TIMEOUT = -2

/** The host drops stdout lines over 1 MiB, so a larger request could only time out; it is refused here. */
export const MAX_LINE_BYTES = 1_048_576

export interface StorageOptions {
  /** Per-request deadline; the host's own forward calls default to 30 s, so waiting longer is pointless. */
  readonly timeoutMs?: number
}

interface Pending {
  readonly resolve: (value: unknown) => void
  readonly reject: (error: StorageError) => void
  readonly timer: ReturnType<typeof setTimeout>
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

export class PluginStorage {
  private nextId = 1
  private readonly pending = new Map<number, Pending>()
  private readonly write: (line: string) => void
  private readonly timeoutMs: number

  constructor(write: (line: string) => void, options: StorageOptions = {}) {
    this.write = write
    this.timeoutMs = options.timeoutMs ?? 30_000
  }

  async get(key: string): Promise<StorageGetResult> {
    const result = await this.request("storage/get", { key })
    if (!isRecord(result)) return { data: null }
    const data = result["data"] ?? null
    const expiresAt = result["expiresAt"]
    return typeof expiresAt === "string" ? { data, expiresAt } : { data }
  }

  async set(key: string, data: unknown, expiresAt?: Date | string): Promise<{ readonly success: boolean }> {
    const params: Record<string, unknown> = { key, data }
    if (expiresAt !== undefined) params["expiresAt"] = expiresAt instanceof Date ? expiresAt.toISOString() : expiresAt
    const result = await this.request("storage/set", params)
    return { success: isRecord(result) && result["success"] === true }
  }

  async delete(key: string): Promise<{ readonly deleted: boolean }> {
    const result = await this.request("storage/delete", { key })
    return { deleted: isRecord(result) && result["deleted"] === true }
  }

  async list(): Promise<{ readonly keys: ReadonlyArray<StorageKeyEntry> }> {
    const result = await this.request("storage/list", {})
    const keys = isRecord(result) && Array.isArray(result["keys"]) ? result["keys"] : []
    return { keys: keys.filter((entry): entry is StorageKeyEntry =>
        isRecord(entry) && typeof entry["key"] === "string" && typeof entry["updatedAt"] === "string") }
  }

  async clear(): Promise<{ readonly deletedCount: number }> {
    const result = await this.request("storage/clear", {})
    const count = isRecord(result) ? result["deletedCount"] : undefined
    return { deletedCount: typeof count === "number" ? count : 0 }
  }

  /** Number of requests still waiting for the host. */
  get pendingCount(): number {
    return this.pending.size
  }

  /**
   * Settles the pending request a host response is for. Returns false when the message is not a response to
   * one of ours (the caller then tries other routers or drops it).
   */
  handleResponse(message: Record<string, unknown>): boolean {
    const id = message["id"]
    if (typeof id !== "number") return false
    const entry = this.pending.get(id)
    if (entry === undefined) return false
    this.pending.delete(id)
    clearTimeout(entry.timer)
    const error = message["error"]
    if (isRecord(error)) {
      const code = typeof error["code"] === "number" ? error["code"] : -32603
      const text = typeof error["message"] === "string" ? error["message"] : "Storage error"
      entry.reject(new StorageError(text, code, error["data"]))
    } else {
      entry.resolve(message["result"])
    }
    return true
  }

  /** Rejects every pending request (used on shutdown and when stdin closes). */
  cancelAll(reason = "Storage client stopped"): void {
    for (const [id, entry] of this.pending) {
      this.pending.delete(id)
      clearTimeout(entry.timer)
      entry.reject(new StorageError(reason, STORAGE_STOPPED))
    }
  }

  private request(method: string, params: Record<string, unknown>): Promise<unknown> {
    const id = this.nextId++
    const line = JSON.stringify({ jsonrpc: "2.0", id, method, params }) + "\n"
    if (Buffer.byteLength(line) > MAX_LINE_BYTES) {
      return Promise.reject(
        new StorageError(`Storage request too large (${Buffer.byteLength(line)} bytes; the host reads at most ${MAX_LINE_BYTES})`, -32602)
      )
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(new StorageError(`Storage request ${method} timed out after ${this.timeoutMs} ms`, STORAGE_TIMEOUT))
      }, this.timeoutMs)
      // A pending storage call must not keep a plugin alive whose host has gone away.
      timer.unref()
      this.pending.set(id, { resolve, reject, timer })
      try {
        this.write(line)
      } catch (cause) {
        this.pending.delete(id)
        clearTimeout(timer)
        reject(new StorageError(`Failed to send ${method}: ${cause instanceof Error ? cause.message : String(cause)}`, -32603))
      }
    })
  }
}
