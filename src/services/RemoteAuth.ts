/**
 * The auth gate of the remote curated sync (`forceRemoteSync`). The sync itself (fetch, reconcile, record)
 * is not part of this version; without ChatGPT auth the reference's exact texts are returned, fail-open.
 */
import { Effect } from "effect"
import type { FsPort } from "../adapters/FsPort.ts"
import type { LedgerPaths } from "./LedgerConfig.ts"

type AuthMode = "none" | "apikey" | "chatgpt"

const readAuthMode = (fs: FsPort, paths: LedgerPaths): AuthMode => {
  let parsed: unknown
  try {
    parsed = JSON.parse(fs.readFileSync(paths.authPath).toString("utf8"))
  } catch {
    return "none"
  }
  if (typeof parsed !== "object" || parsed === null) return "none"
  const tokens: unknown = Reflect.get(parsed, "tokens")
  if (typeof tokens === "object" && tokens !== null) return "chatgpt"
  const apiKey: unknown = Reflect.get(parsed, "OPENAI_API_KEY")
  return typeof apiKey === "string" && apiKey !== "" ? "apikey" : "none"
}

/**
 * `forceRemoteSync` on install / uninstall: the reference asks the backend first and fails the request
 * without ChatGPT auth. This version performs no remote mutation, so the request always fails with the
 * reference's text (or, with ChatGPT auth, a plain statement that it is not supported).
 */
export const remoteMutationError = (fs: FsPort, paths: LedgerPaths, action: "enable" | "uninstall"): string => {
  const prefix = `failed to ${action} remote plugin`
  switch (readAuthMode(fs, paths)) {
    case "none":
      return `${prefix}: chatgpt authentication required for remote plugin mutation`
    case "apikey":
      return `${prefix}: chatgpt authentication required for remote plugin mutation; api key auth is not supported`
    case "chatgpt":
      return `${prefix}: remote plugin mutation is not supported by this version of plugin-ledger`
  }
}

/** The `remoteSyncError` of a `plugin/list` with `forceRemoteSync: true`. */
export const remoteSyncError = (fs: FsPort, paths: LedgerPaths): Effect.Effect<string> =>
  Effect.sync(() => {
    switch (readAuthMode(fs, paths)) {
      case "none":
        return "chatgpt authentication required to sync remote plugins"
      case "apikey":
        return "chatgpt authentication required to sync remote plugins; api key auth is not supported"
      case "chatgpt":
        return "remote plugin sync is not supported by this version of plugin-ledger"
    }
  })
