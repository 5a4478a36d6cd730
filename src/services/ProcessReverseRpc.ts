/**
 * The host's side of a plugin's own requests (reverse RPC), for one plugin process. A request waits at a readiness
 * gate until the process's capabilities are known (its `initialize` answered with a valid manifest), for at most
 * `readinessTimeoutMs`; a plugin that calls storage from its `onInitialize` is therefore answered once it has
 * answered `initialize`, and never blocks that answer (each request runs on its own fiber). Past the gate, the
 * permission table decides (storage open to all, `releases/*` only with a declared `releaseSource`), then the
 * handler answers; a process without storage (`process test`) answers storage calls with the reference's -32601.
 */
import { Deferred, Effect, Option } from "effect"
import { ReverseRpcError } from "../adapters/ProcessPeer.ts"
import { refusals, type ReverseRefusal, reversePermission } from "../domain/ProcessPermissions.ts"
import type { Capabilities } from "../domain/ProcessProtocol.ts"

export type StorageHandler = (method: string, params: unknown) => Effect.Effect<unknown, ReverseRpcError>

export interface ReverseRpc {
  /** answers one request of the plugin */
  readonly handle: (method: string, params: unknown) => Effect.Effect<unknown, ReverseRpcError>
  /** opens the gate: the manifest's capabilities are known */
  readonly ready: (capabilities: Capabilities) => Effect.Effect<void>
}

const refuse = (refusal: ReverseRefusal) => Effect.fail(new ReverseRpcError(refusal))

export const makeReverseRpc = (options: {
  readonly readinessTimeoutMs: number
  readonly storage: StorageHandler | undefined
  readonly onWarning: (message: string) => Effect.Effect<void>
}): ReverseRpc => {
  const capabilities = Deferred.makeUnsafe<Capabilities>()

  const handle = (method: string, params: unknown): Effect.Effect<unknown, ReverseRpcError> =>
    Effect.gen(function*() {
      const known = yield* Deferred.await(capabilities).pipe(Effect.timeoutOption(options.readinessTimeoutMs))
      if (Option.isNone(known)) {
        yield* options.onWarning(`\`${method}\` arrived before initialize completed and waited ${options.readinessTimeoutMs} ms; refused`)
        return yield* refuse(refusals.notReady)
      }
      const permission = reversePermission(method, known.value)
      switch (permission._tag) {
        case "UnknownMethod":
          return yield* refuse(refusals.unknownMethod(method))
        case "Denied":
          yield* options.onWarning(`\`${method}\` refused: the plugin did not declare \`${permission.required}\``)
          return yield* refuse(refusals.denied(method, permission.required))
        case "Allowed":
          if (permission.handler === "releases") return yield* refuse(refusals.noReleases)
          if (options.storage === undefined) return yield* refuse(refusals.noStorage)
          return yield* options.storage(method, params)
      }
    })

  return { handle, ready: (caps) => Deferred.succeed(capabilities, caps).pipe(Effect.asVoid) }
}
