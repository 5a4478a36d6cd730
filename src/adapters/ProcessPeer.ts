/**
 * One plugin child process and the newline-delimited JSON-RPC 2.0 spoken with it: spawned without a shell and
 * with exactly the environment given, calls multiplexed by id, the plugin's own requests (storage) answered
 * through `onRequest`, stderr lines logged with their level, bad stdout lines dropped with a warning. When the
 * process ends, every pending call fails at once. Closing the scope shuts it down (shutdown, grace, kill).
 */
import { spawn } from "node:child_process"
import { Data, Deferred, Effect, Exit, FiberSet, Queue, type Scope } from "effect"
import { callErrorOf, ErrorCodes, MAX_LINE_BYTES, ProcessCallError } from "../domain/ProcessProtocol.ts"
import { makeLineSplitter, type SplitItem } from "./LineSplitter.ts"

export interface PeerSpec {
  readonly name: string
  readonly command: string
  readonly args: ReadonlyArray<string>
  readonly env: Readonly<Record<string, string>>
  readonly cwd: string | undefined
  /** on scope close: how long after `shutdown` before SIGKILL */
  readonly graceMs: number
}

/** An error the host answers a plugin's request with. */
export class ReverseRpcError extends Data.TaggedError("ReverseRpcError")<{
  readonly code: number
  readonly message: string
}> {}

export type LogLevel = "Debug" | "Info" | "Warning" | "Error"

export interface PeerHooks {
  readonly onRequest: (method: string, params: unknown) => Effect.Effect<unknown, ReverseRpcError>
  readonly onLog: (level: LogLevel, message: string) => Effect.Effect<void>
}

export class SpawnFailed extends Data.TaggedError("SpawnFailed")<{ readonly message: string }> {}

export interface PeerExit {
  readonly code: number | null
  readonly signal: string | null
}

export interface ProcessPeer {
  readonly pid: number | undefined
  readonly alive: () => boolean
  readonly call: (method: string, params: unknown, timeoutMs: number) => Effect.Effect<unknown, ProcessCallError>
  /** resolves when the process has exited and its output is closed */
  readonly exited: Effect.Effect<PeerExit>
  /** `shutdown` request, then stdin closed, then up to `graceMs` for it to exit, then SIGKILL */
  readonly shutdown: (graceMs: number) => Effect.Effect<void>
}

type Incoming =
  | SplitItem
  | { readonly _tag: "Stderr"; readonly text: string }
  | { readonly _tag: "Exit" }

/** The level of a stderr line: a leading ISO time is dropped, then `[LEVEL]` or `LEVEL:` is read (default info). */
export const stderrLevel = (line: string): { readonly level: LogLevel; readonly message: string } => {
  const rest = line.replace(/^\d{4}-\d{2}-\d{2}T[0-9:.]+Z?\s*/, "")
  const m = /^(?:\[(ERROR|ERR|WARNING|WARN|INFO|DEBUG|TRACE)\]|(ERROR|ERR|WARNING|WARN|INFO|DEBUG|TRACE):)\s*/i.exec(rest)
  if (m === null) return { level: "Info", message: line }
  const word = (m[1] ?? m[2] ?? "").toUpperCase()
  const level: LogLevel = word.startsWith("ERR") ? "Error" : word.startsWith("WARN") ? "Warning" : word === "INFO" ? "Info" : "Debug"
  return { level, message: rest.slice(m[0].length) }
}

/** The id a response or request carries: a number, or a string that is an integer. */
const numericId = (id: unknown): number | undefined => {
  if (typeof id === "number" && Number.isSafeInteger(id)) return id
  if (typeof id === "string" && /^-?\d+$/.test(id)) return Number(id)
  return undefined
}

export const spawnPeer = (spec: PeerSpec, hooks: PeerHooks): Effect.Effect<ProcessPeer, SpawnFailed, Scope.Scope> =>
  Effect.gen(function*() {
    const incoming = yield* Queue.unbounded<Incoming>()
    const exited = yield* Deferred.make<PeerExit>()
    const child = yield* Effect.callback<ReturnType<typeof spawn>, SpawnFailed>((resume) => {
      let proc: ReturnType<typeof spawn>
      try {
        proc = spawn(spec.command, [...spec.args], {
          shell: false,
          env: { ...spec.env },
          cwd: spec.cwd,
          stdio: ["pipe", "pipe", "pipe"],
          windowsHide: true
        })
      } catch (error) {
        resume(Effect.fail(new SpawnFailed({ message: `failed to spawn \`${spec.command}\`: ${String(error)}` })))
        return
      }
      const onError = (error: Error) =>
        resume(Effect.fail(new SpawnFailed({ message: `failed to spawn \`${spec.command}\`: ${error.message}` })))
      proc.once("error", onError)
      proc.once("spawn", () => {
        proc.off("error", onError)
        resume(Effect.succeed(proc))
      })
    })
    let alive = true
    const splitter = makeLineSplitter(MAX_LINE_BYTES)
    const errSplitter = makeLineSplitter(64 * 1024)
    child.stdout?.on("data", (chunk: Buffer) => {
      for (const item of splitter.push(chunk)) Queue.offerUnsafe(incoming, item)
    })
    child.stderr?.on("data", (chunk: Buffer) => {
      for (const item of errSplitter.push(chunk)) {
        Queue.offerUnsafe(incoming, { _tag: "Stderr", text: item._tag === "Line" ? item.text : `${item.head}... (${item.bytes} bytes)` })
      }
    })
    // a plugin that exits while we write must not crash the host (EPIPE)
    child.stdin?.on("error", () => undefined)
    child.on("error", () => undefined)
    child.once("close", (code: number | null, signal: NodeJS.Signals | null) => {
      alive = false
      // after every line read so far: the exit is handled once they are
      Queue.offerUnsafe(incoming, { _tag: "Exit" })
      Deferred.doneUnsafe(exited, Exit.succeed({ code, signal }))
    })

    const write = (message: unknown): boolean => {
      if (!alive || child.stdin === null || child.stdin.destroyed) return false
      child.stdin.write(`${JSON.stringify(message)}\n`)
      return true
    }

    let nextId = 1
    const pending = new Map<number, { readonly method: string; readonly deferred: Deferred.Deferred<unknown, ProcessCallError> }>()

    const failAllPending = (exit: PeerExit) =>
      Effect.forEach([...pending.values()], ({ method, deferred }) =>
        Deferred.fail(deferred, new ProcessCallError({
          kind: "Crashed",
          code: ErrorCodes.internalError,
          message: `process plugin \`${spec.name}\` exited (${exit.signal === null ? `code ${exit.code}` : `signal ${exit.signal}`}) while \`${method}\` was pending`
        })), { discard: true })

    const handlers = yield* FiberSet.make()

    const answerRequest = (id: unknown, method: string, params: unknown) =>
      hooks.onRequest(method, params).pipe(
        Effect.matchEffect({
          onSuccess: (result) => Effect.sync(() => write({ jsonrpc: "2.0", id, result })),
          onFailure: (error) => Effect.sync(() => write({ jsonrpc: "2.0", id, error: { code: error.code, message: error.message } }))
        }),
        Effect.asVoid
      )

    const handleMessage = (message: unknown): Effect.Effect<void> => {
      if (typeof message !== "object" || message === null || Array.isArray(message)) {
        return hooks.onLog("Warning", "dropped a stdout line that is not a JSON object")
      }
      const id: unknown = Reflect.get(message, "id")
      const method: unknown = Reflect.get(message, "method")
      if (typeof method === "string") {
        if (typeof id !== "number" && typeof id !== "string") {
          return hooks.onLog("Warning", `dropped a request without id (\`${method}\`): the host answers requests only`)
        }
        return FiberSet.run(handlers, answerRequest(id, method, Reflect.get(message, "params"))).pipe(Effect.asVoid)
      }
      const key = numericId(id)
      const entry = key === undefined ? undefined : pending.get(key)
      if (entry === undefined) {
        const error: unknown = Reflect.get(message, "error")
        return id === null || id === undefined
          ? hooks.onLog("Warning", `plugin error without request id: ${JSON.stringify(error)}`)
          : hooks.onLog("Warning", `dropped a response for unknown request id ${JSON.stringify(id)}`)
      }
      if (Object.hasOwn(message, "result")) return Deferred.succeed(entry.deferred, Reflect.get(message, "result")).pipe(Effect.asVoid)
      if (Object.hasOwn(message, "error")) return Deferred.fail(entry.deferred, callErrorOf(Reflect.get(message, "error"))).pipe(Effect.asVoid)
      return Deferred.fail(entry.deferred, new ProcessCallError({
        kind: "InvalidResponse",
        code: ErrorCodes.internalError,
        message: `process plugin \`${spec.name}\` answered \`${entry.method}\` with neither result nor error`
      })).pipe(Effect.asVoid)
    }

    /** An oversize line is dropped; when its head shows whose answer it was, that caller learns at once. */
    const handleOversize = (bytes: number, head: string): Effect.Effect<void> => {
      const warn = hooks.onLog("Warning", `dropped a stdout line of ${bytes} bytes (over the ${MAX_LINE_BYTES}-byte limit)`)
      const idMatch = /"id"\s*:\s*(-?\d+|"[^"]*")/.exec(head)
      const isRequest = /"method"\s*:/.test(head)
      if (idMatch?.[1] === undefined) return warn
      const rawId: unknown = JSON.parse(idMatch[1])
      if (isRequest) {
        return warn.pipe(Effect.andThen(Effect.sync(() =>
          write({ jsonrpc: "2.0", id: rawId, error: { code: ErrorCodes.invalidRequest, message: `message of ${bytes} bytes is over the ${MAX_LINE_BYTES}-byte line limit` } })
        )))
      }
      const key = numericId(rawId)
      const entry = key === undefined ? undefined : pending.get(key)
      if (entry === undefined) return warn
      return warn.pipe(Effect.andThen(Deferred.fail(entry.deferred, new ProcessCallError({
        kind: "InvalidResponse",
        code: ErrorCodes.internalError,
        message: `process plugin \`${spec.name}\` answered \`${entry.method}\` with ${bytes} bytes, over the ${MAX_LINE_BYTES}-byte line limit`
      }))), Effect.asVoid)
    }

    const dispatch = (item: Incoming): Effect.Effect<void> => {
      switch (item._tag) {
        case "Stderr": {
          const { level, message } = stderrLevel(item.text)
          return hooks.onLog(level, message)
        }
        case "Oversize":
          return handleOversize(item.bytes, item.head)
        case "Exit":
          return Deferred.await(exited).pipe(Effect.flatMap(failAllPending))
        case "Line": {
          let message: unknown
          try {
            message = JSON.parse(item.text)
          } catch {
            return hooks.onLog("Warning", `dropped a stdout line that is not JSON: ${item.text.slice(0, 120)}`)
          }
          return handleMessage(message)
        }
      }
    }
    yield* Queue.take(incoming).pipe(Effect.flatMap(dispatch), Effect.forever, Effect.forkScoped({ startImmediately: true }))

    const call = (method: string, params: unknown, timeoutMs: number): Effect.Effect<unknown, ProcessCallError> =>
      Effect.suspend(() => {
        if (!alive) {
          return Effect.fail(new ProcessCallError({ kind: "Crashed", code: ErrorCodes.internalError, message: `process plugin \`${spec.name}\` is not running` }))
        }
        const id = nextId++
        const deferred = Deferred.makeUnsafe<unknown, ProcessCallError>()
        pending.set(id, { method, deferred })
        write({ jsonrpc: "2.0", id, method, ...(params === undefined ? {} : { params }) })
        return Deferred.await(deferred).pipe(
          Effect.timeoutOrElse({
            duration: timeoutMs,
            orElse: () =>
              Effect.fail(new ProcessCallError({
                kind: "Timeout",
                code: ErrorCodes.internalError,
                message: `process plugin \`${spec.name}\` did not answer \`${method}\` within ${timeoutMs / 1000} s`
              }))
          }),
          Effect.ensuring(Effect.sync(() => pending.delete(id)))
        )
      })

    const kill = Effect.sync(() => {
      if (alive) child.kill("SIGKILL")
    })
    const shutdown = (graceMs: number): Effect.Effect<void> =>
      Effect.gen(function*() {
        if (!alive) return
        yield* Effect.ignore(call("shutdown", undefined, graceMs))
        yield* Effect.sync(() => child.stdin?.end())
        const done = yield* Deferred.await(exited).pipe(Effect.timeoutOption(graceMs))
        if (done._tag === "None") {
          yield* hooks.onLog("Warning", `did not exit within ${graceMs} ms of shutdown; killing it`)
          yield* kill
          yield* Deferred.await(exited).pipe(Effect.timeoutOption(5000))
        }
      })

    yield* Effect.addFinalizer(() => shutdown(spec.graceMs).pipe(Effect.ensuring(kill)))

    return {
      pid: child.pid,
      alive: () => alive,
      call,
      exited: Deferred.await(exited),
      shutdown
    }
  })
