/**
 * Which requests a plugin may send the host (reverse RPC), decided on the capabilities its manifest declared, as
 * the reference's permission table decides it: the five `storage/*` methods are open to every plugin (the storage
 * scope is bound by the host, not chosen by the plugin); `releases/*` need a declared `releaseSource`; any other
 * method has no mapping. And the error each refusal is answered with. Pure.
 */
import type { Capabilities } from "./ProcessProtocol.ts"
import { ErrorCodes } from "./ProcessProtocol.ts"

export const STORAGE_METHODS: ReadonlySet<string> = new Set(["storage/get", "storage/set", "storage/delete", "storage/list", "storage/clear"])

export const RELEASES_METHODS: ReadonlySet<string> = new Set([
  "releases/list_tracked",
  "releases/count_tracked",
  "releases/report_progress",
  "releases/record",
  "releases/source_state/get",
  "releases/source_state/set",
  "releases/register_sources"
])

export type ReversePermission =
  | { readonly _tag: "Allowed"; readonly handler: "storage" | "releases" }
  | { readonly _tag: "Denied"; readonly required: "ReleaseSource" }
  | { readonly _tag: "UnknownMethod" }

export const reversePermission = (method: string, capabilities: Capabilities): ReversePermission => {
  if (STORAGE_METHODS.has(method)) return { _tag: "Allowed", handler: "storage" }
  if (RELEASES_METHODS.has(method)) {
    const declared = capabilities.releaseSource !== undefined && capabilities.releaseSource !== null
    return declared ? { _tag: "Allowed", handler: "releases" } : { _tag: "Denied", required: "ReleaseSource" }
  }
  return { _tag: "UnknownMethod" }
}

export interface ReverseRefusal {
  readonly code: number
  readonly message: string
}

/** The reference's answers, code and text, for each way a reverse call is refused. */
export const refusals = {
  notReady: { code: ErrorCodes.methodNotFound, message: "plugin not initialized; capabilities unknown" },
  denied: (method: string, required: string): ReverseRefusal => ({
    code: ErrorCodes.authFailed,
    message: `method \`${method}\` requires the \`${required}\` capability, which the plugin did not declare`
  }),
  unknownMethod: (method: string): ReverseRefusal => ({ code: ErrorCodes.methodNotFound, message: `unknown method \`${method}\` (no permission mapping)` }),
  noStorage: { code: ErrorCodes.methodNotFound, message: "Storage is not available for this plugin" },
  // releases are not hosted here (the library server's release tracking); a declared source gets the reference's
  // answer for a host without a releases handler
  noReleases: { code: ErrorCodes.internalError, message: "Releases handler not configured" }
} as const
