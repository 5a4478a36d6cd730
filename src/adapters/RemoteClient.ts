/**
 * The HTTP side of the remote curated sync: ChatGPT auth from `$CODEX_HOME/auth.json`, and one
 * `GET {base}/plugins/list` with the reference's headers, a timeout (30 s by default) and a cap on the body size.
 * Credentials stay in this module: callers get the header names that were sent, never the values.
 */
import { Context, Effect, Schema } from "effect"
import { errnoCode, type FsPort } from "./FsPort.ts"
import { rustIoError } from "./RustIoError.ts"

export type ChatgptAuth =
  | { readonly _tag: "None" }
  | { readonly _tag: "ApiKey" }
  | { readonly _tag: "Chatgpt"; readonly token: string; readonly accountId: string | undefined }

export class RemoteSyncFailure extends Schema.TaggedError<RemoteSyncFailure>()("RemoteSyncFailure", {
  message: Schema.String
}) {}

const AuthFile = Schema.Struct({
  OPENAI_API_KEY: Schema.optionalKey(Schema.NullOr(Schema.String)),
  tokens: Schema.optionalKey(Schema.NullOr(Schema.Struct({
    access_token: Schema.optionalKey(Schema.Unknown),
    account_id: Schema.optionalKey(Schema.Unknown)
  })))
})
const decodeAuthFile = Schema.decodeUnknownResult(Schema.fromJsonString(AuthFile))

/** Reads auth.json as the reference decides its auth mode: tokens mean ChatGPT auth, an API key alone does not. */
export const readChatgptAuth = (fs: FsPort, authPath: string): Effect.Effect<ChatgptAuth, RemoteSyncFailure> =>
  Effect.suspend(() => {
    let text: string
    try {
      text = fs.readFileSync(authPath).toString("utf8")
    } catch (error) {
      if (errnoCode(error) === "ENOENT") return Effect.succeed<ChatgptAuth>({ _tag: "None" })
      return Effect.fail(new RemoteSyncFailure({ message: `failed to read auth token for remote plugin sync: ${rustIoError(error)}` }))
    }
    const decoded = decodeAuthFile(text)
    if (decoded._tag === "Failure") return Effect.succeed<ChatgptAuth>({ _tag: "None" })
    const { OPENAI_API_KEY: apiKey, tokens } = decoded.success
    if (tokens !== undefined && tokens !== null) {
      const token = tokens.access_token
      if (typeof token !== "string" || token === "") {
        return Effect.fail(new RemoteSyncFailure({ message: "failed to read auth token for remote plugin sync: no access token in auth.json" }))
      }
      const accountId = typeof tokens.account_id === "string" ? tokens.account_id : undefined
      return Effect.succeed<ChatgptAuth>({ _tag: "Chatgpt", token, accountId })
    }
    return Effect.succeed<ChatgptAuth>(typeof apiKey === "string" && apiKey !== "" ? { _tag: "ApiKey" } : { _tag: "None" })
  })

export const authRequiredError = (auth: ChatgptAuth): string | undefined => {
  switch (auth._tag) {
    case "None":
      return "chatgpt authentication required to sync remote plugins"
    case "ApiKey":
      return "chatgpt authentication required to sync remote plugins; api key auth is not supported"
    case "Chatgpt":
      return undefined
  }
}

/** How the client reaches the network; tests swap `fetch` and shorten the timeout. */
export interface RemoteClientSettings {
  readonly fetch: typeof globalThis.fetch
  readonly timeoutMs: number
  readonly maxBodyBytes: number
  readonly userAgent: string
}

export const RemoteClientSettings = Context.Reference<RemoteClientSettings>("plugin-ledger/adapters/RemoteClientSettings", {
  defaultValue: () => ({
    fetch: (input, init) => globalThis.fetch(input, init),
    timeoutMs: 30_000,
    maxBodyBytes: 8 * 1024 * 1024,
    userAgent: "plugin-ledger/0.1.0"
  })
})

export interface RemoteResponse {
  readonly status: number
  /** `500 Internal Server Error`, as reqwest prints a status */
  readonly statusText: string
  readonly body: Uint8Array
  readonly authHeaders: ReadonlyArray<string>
}

/** URL for records and messages: user info (credentials) removed. */
export const redactUrl = (url: string): string => {
  try {
    const parsed = new URL(url)
    if (parsed.username === "" && parsed.password === "") return url
    parsed.username = ""
    parsed.password = ""
    return parsed.toString()
  } catch {
    return url
  }
}

const readCapped = async (response: Response, max: number): Promise<Uint8Array> => {
  const declared = Number(response.headers.get("content-length") ?? "NaN")
  if (Number.isFinite(declared) && declared > max) {
    await response.body?.cancel()
    throw new Error(`response body is larger than ${max} bytes`)
  }
  if (response.body === null) return new Uint8Array(0)
  const chunks: Array<Uint8Array> = []
  let size = 0
  const reader = response.body.getReader()
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > max) {
      await reader.cancel()
      throw new Error(`response body is larger than ${max} bytes`)
    }
    chunks.push(value)
  }
  return Buffer.concat(chunks)
}

/**
 * `GET url` with `authorization: Bearer <token>` and `chatgpt-account-id` (when known), as the reference sends them.
 * A failure to connect, a timeout or a body over the cap is `failed to send remote plugin sync request to {url}: ...`.
 */
export const fetchRemotePluginList = (
  url: string,
  auth: { readonly token: string; readonly accountId: string | undefined }
): Effect.Effect<RemoteResponse, RemoteSyncFailure> =>
  Effect.gen(function*() {
    const settings = yield* RemoteClientSettings
    const shown = redactUrl(url)
    const headers: Record<string, string> = { authorization: `Bearer ${auth.token}`, accept: "*/*", "user-agent": settings.userAgent }
    if (auth.accountId !== undefined) headers["chatgpt-account-id"] = auth.accountId
    const authHeaders = auth.accountId === undefined ? ["authorization"] : ["authorization", "chatgpt-account-id"]
    // reqwest words every send failure (refused, reset, timed out) the same way; the cause goes to the log only
    const sendError = (cause: unknown) => {
      const detail = cause instanceof Error && /larger than/.test(cause.message) ? cause.message : `error sending request for url (${shown})`
      return new RemoteSyncFailure({ message: `failed to send remote plugin sync request to ${shown}: ${detail}` })
    }
    return yield* Effect.tryPromise({
      try: async (signal) => {
        const timeout = AbortSignal.timeout(settings.timeoutMs)
        const response = await settings.fetch(url, { method: "GET", headers, signal: AbortSignal.any([signal, timeout]), redirect: "follow" })
        const body = await readCapped(response, settings.maxBodyBytes)
        // loaded here, not at start-up: importing node:http costs serve's start tens of milliseconds
        const { STATUS_CODES } = await import("node:http")
        const reason = STATUS_CODES[response.status]
        return {
          status: response.status,
          statusText: reason === undefined ? `${response.status} <unknown status code>` : `${response.status} ${reason}`,
          body,
          authHeaders
        }
      },
      catch: sendError
    })
  })
