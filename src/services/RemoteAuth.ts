/**
 * The auth gate of the remote plugin mutations (`forceRemoteSync` on install and uninstall): the reference's exact
 * texts. The remote sync of `plugin/list` reads its auth in RemoteClient.ts; the POST mutations are not built yet.
 */
import type { FsPort } from "../adapters/FsPort.ts"
import type { LedgerPaths } from "./LedgerPaths.ts"

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
