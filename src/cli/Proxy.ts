/**
 * `plugin-ledger proxy --socket <path>`: stdin to the daemon's socket and the socket to stdout, byte for byte, so a
 * client that speaks to `plugin-ledger serve` over stdio can use a running daemon instead. At stdin's end the
 * socket's sending side is closed; the proxy exits once the daemon has answered and closed its side.
 */
import { Effect } from "effect"
import * as Net from "node:net"
import { DaemonError } from "./Daemon.ts"

export const runProxy = (socketPath: string): Effect.Effect<void, DaemonError> =>
  Effect.callback<void, DaemonError>((resume) => {
    const socket = Net.connect({ path: socketPath, allowHalfOpen: true })
    let connected = false
    socket.once("connect", () => {
      connected = true
      process.stdin.pipe(socket)
      socket.pipe(process.stdout, { end: false })
    })
    socket.once("error", (error) => {
      const message = connected ? `connection to ${socketPath} failed: ${error.message}` : `cannot connect to ${socketPath}: ${error.message}`
      resume(Effect.fail(new DaemonError({ message })))
    })
    socket.once("end", () => {
      process.stdin.unpipe(socket)
      process.stdin.pause()
    })
    socket.once("close", (hadError) => {
      if (!hadError) resume(Effect.void)
    })
    return Effect.sync(() => socket.destroy())
  })
