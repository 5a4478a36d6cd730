/**
 * `plugin-ledger daemon --socket <path>`: the same protocol as `serve`, on a Unix domain socket, for many clients
 * at once (each connection its own session, with its own `initialize` and notifications). The socket is created
 * private to the user (0600). A socket file nobody answers on is stale and replaced; one a live daemon answers on
 * is not touched, and this one refuses to start. SIGTERM/SIGINT: stop accepting, answer the requests in flight,
 * close the connections, remove the socket.
 *
 * Who may replace or remove the socket file is decided by a lock (`<socket>.owner/lock`, the ledger's lock protocol:
 * FileLock.ts), held for the daemon's life: without it, two daemons starting on one stale socket could both remove
 * it and listen, the second unlinking the first's new socket (which then served nobody, and on its way out removed
 * the second's).
 */
import { Effect, FiberSet, Schema, type Scope } from "effect"
import * as NodeFs from "node:fs"
import * as Net from "node:net"
import { releaseLock, removeOrphans, tryAcquireLock } from "../adapters/FileLock.ts"
import { describeError, errnoCode, nodeFs } from "../adapters/FsPort.ts"
import { makeNodeLockHost } from "../adapters/LockOwner.ts"
import { makeCodexSession } from "../rpc/CodexServer.ts"
import { adoptHandEdits } from "../services/ConfigWatcher.ts"
import type { LedgerConfig } from "../services/LedgerConfig.ts"
import type { PathWatch } from "../services/PathWatch.ts"
import { servePeer } from "../rpc/JsonRpcPeer.ts"
import { makeSessionNotifications } from "../rpc/Notifications.ts"
import { streamChannel } from "../rpc/StdioChannel.ts"
import type { Engine } from "../services/EngineApi.ts"
import type { LogTailer } from "../services/LogTailer.ts"
import type { MarketplaceWatcher } from "../services/MarketplaceWatcher.ts"
import { makeQuietRelease, releaseFreeHeapPages, reportingActivity } from "./MemoryTuning.ts"
import { exitCleanlyWhenInterrupted } from "./Shutdown.ts"

export class DaemonError extends Schema.TaggedError<DaemonError>()("DaemonError", { message: Schema.String }) {}

/** Whether something accepts connections on `path`: "live", "stale" (a socket nobody answers) or "absent". */
export const probeSocket = (path: string): Effect.Effect<"live" | "stale" | "absent"> =>
  Effect.callback<"live" | "stale" | "absent">((resume) => {
    const socket = Net.connect({ path })
    const done = (state: "live" | "stale" | "absent") => {
      socket.destroy()
      resume(Effect.succeed(state))
    }
    socket.once("connect", () => done("live"))
    socket.once("error", (error) => done(errnoCode(error) === "ECONNREFUSED" ? "stale" : "absent"))
    socket.setTimeout(2_000, () => done("live")) // accepted slowly: someone is there
  })

const isSocket = (path: string): boolean | undefined => {
  const stats = NodeFs.lstatSync(path, { throwIfNoEntry: false })
  return stats === undefined ? undefined : stats.isSocket()
}

/** The directory of the lock that makes a daemon the owner of the socket at `path`. */
export const socketOwnerDir = (path: string): string => `${path}.owner`

/**
 * Takes the lock of the socket at `path` for the scope (released after the socket is closed): refused while another
 * daemon holds it; a holder that is gone (SIGKILL) is taken over, as the ledger's lock is. Its directory stays.
 */
const ownSocket = (path: string): Effect.Effect<void, DaemonError, Scope.Scope> => {
  const dir = socketOwnerDir(path)
  const failed = (what: string) => (cause: unknown) => new DaemonError({ message: `cannot ${what} ${dir}: ${describeError(cause)}` })
  return Effect.gen(function*() {
    yield* Effect.try({
      try: () => {
        try {
          NodeFs.mkdirSync(dir, { mode: 0o700 })
        } catch (error) {
          if (errnoCode(error) !== "EEXIST") throw error
        }
      },
      catch: failed("create")
    })
    const host = makeNodeLockHost()
    const take = Effect.try({
      try: () => {
        removeOrphans(nodeFs, dir, host)
        return tryAcquireLock(nodeFs, dir, host)
      },
      catch: failed("take the lock in")
    }).pipe(Effect.flatMap((attempt) => {
      if (attempt._tag === "Acquired") return Effect.succeed(attempt.lock)
      const owner = attempt.owner === undefined ? attempt.detail : `pid ${attempt.owner.pid} on host ${attempt.owner.host}`
      return Effect.fail(new DaemonError({ message: `another daemon is listening on ${path} (or starting: ${owner} owns it)` }))
    }))
    // a failed release (the directory gone) leaves a lock whose holder is gone once we are: the next daemon takes it
    yield* Effect.acquireRelease(take, (lock) => Effect.ignore(Effect.try({ try: () => releaseLock(nodeFs, lock), catch: (cause) => cause })))
  })
}

/** Listens on `path` (private to the user); closed, and the socket file removed, with the scope. */
const listen = (path: string, onConnection: (socket: Net.Socket) => void): Effect.Effect<Net.Server, DaemonError, Scope.Scope> =>
  Effect.gen(function*() {
    yield* ownSocket(path)
    const state = yield* probeSocket(path)
    if (state === "live") return yield* new DaemonError({ message: `another daemon is listening on ${path}` })
    const kind = isSocket(path)
    if (kind === false) return yield* new DaemonError({ message: `${path} exists and is not a socket; not replacing it` })
    if (kind === true) {
      yield* Effect.logInfo(`removing the stale socket ${path}`)
      yield* Effect.try({
        try: () => NodeFs.unlinkSync(path),
        catch: (cause) => new DaemonError({ message: `cannot remove the stale socket ${path}: ${describeError(cause)}` })
      })
    }
    // allowHalfOpen: a client that ends its side after the last request still gets the answers
    const server = Net.createServer({ allowHalfOpen: true }, onConnection)
    return yield* Effect.acquireRelease(
      Effect.callback<Net.Server, DaemonError>((resume) => {
        const previous = process.umask(0o077) // the socket is born 0600: other users must not drive our ledger
        server.once("error", (cause) => {
          const message = errnoCode(cause) === "EADDRINUSE" ? `another daemon is listening on ${path}` : `cannot listen on ${path}: ${describeError(cause)}`
          resume(Effect.fail(new DaemonError({ message })))
        })
        server.listen(path, () => resume(Effect.succeed(server)))
        process.umask(previous)
      }),
      (listening) => Effect.sync(() => listening.close()) // stops accepting and unlinks the socket file
    )
  })

/** Serves until interrupted (SIGTERM/SIGINT). */
export const runDaemon = (
  socketPath: string
): Effect.Effect<void, DaemonError, Engine | LogTailer | MarketplaceWatcher | LedgerConfig | PathWatch | Scope.Scope> =>
  Effect.gen(function*() {
    yield* exitCleanlyWhenInterrupted
    yield* Effect.forkScoped(adoptHandEdits)
    // what building the services left behind goes back now (no client waits for a daemon's start); then after
    // every busy period
    releaseFreeHeapPages()
    const busy = makeQuietRelease()
    // created before the server, so on shutdown the server stops accepting first, then the connections drain
    const connections = yield* FiberSet.make<void, never>()
    const fork = yield* FiberSet.runtime(connections)<Engine | LogTailer | MarketplaceWatcher>()
    let next = 0
    const serveConnection = (socket: Net.Socket) => {
      const id = ++next
      return Effect.gen(function*() {
        yield* Effect.addFinalizer(() => Effect.sync(() => socket.end()))
        yield* Effect.logDebug(`client ${id} connected`)
        const notifications = yield* makeSessionNotifications
        const session = yield* makeCodexSession({ notifications })
        yield* servePeer(reportingActivity(streamChannel(socket, socket), busy), session)
        yield* Effect.logDebug(`client ${id} done`)
      }).pipe(
        Effect.scoped,
        Effect.catch((error) => Effect.logDebug(`client ${id} dropped: ${error.message}`))
      )
    }
    yield* listen(socketPath, (socket) => {
      socket.on("error", () => {}) // reported through the line stream
      fork(serveConnection(socket))
    })
    yield* Effect.logInfo(`listening on ${socketPath}`)
    return yield* Effect.never
  })
