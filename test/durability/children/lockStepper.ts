/**
 * A lock holder for the R9 suite: `node lockStepper.ts <dir> <step>`. It takes `<dir>/lock` with the real
 * `acquireLock` over a file system that stops the process at one step of the protocol: it prints `AT <step>` and
 * then blocks forever (so the parent can SIGKILL it there, or probe the lock while it is alive there).
 *   tmp-opened       lock.tmp.<pid>.<nonce> created, nothing written to it yet
 *   tmp-written      temp file complete, before link() to `lock`
 *   linked           link() done (the lock is ours), temp file not yet removed
 *   held             acquire returned (temp removed): holding the lock
 *   stale-renamed    taking over a dead holder's lock: renamed to lock.stale.<nonce>, not yet re-checked
 *   stale-unlinking  that stale file re-checked, before it is unlinked
 *   releasing        release: `lock` checked to be still ours, before it is unlinked
 *   loop             no stop: acquire and release in a loop (prints `LOOPING` once), for kills at random times
 * and the same with a temp file kept between acquisitions (`KeptLockFile`, as an EventLog does), after one acquisition
 * and release:
 *   kept-linking     the second acquisition, before it link()s the kept temp file to `lock` again
 *   kept-held        the second acquisition returned: holding the lock (`lock` and the kept temp name, one file)
 *   kept-loop        no stop: acquire and release in a loop with the kept file (prints `LOOPING` once)
 */
import * as NodeFs from "node:fs"
import * as Path from "node:path"
import { Effect } from "effect"
import { makeKeptLockFile, releaseLock } from "../../../src/adapters/FileLock.ts"
import { acquireLock } from "../../../src/adapters/LockAcquisition.ts"
import { makeNodeLockHost } from "../../../src/adapters/LockOwner.ts"
import { type FsPort, nodeFs } from "../../../src/adapters/FsPort.ts"

const [dir, step] = process.argv.slice(2)
if (dir === undefined || step === undefined) {
  process.stderr.write("usage: lockStepper.ts <dir> <step>\n")
  process.exit(2)
}

/** Print (a blocking write, so it arrives even if we are killed right after) and stop here for good. */
const stopAt = (name: string): void => {
  if (name !== step) return
  NodeFs.writeSync(1, `AT ${name}\n`)
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0)
}

const isTmp = (path: string): boolean => Path.basename(path).startsWith("lock.tmp.")
const isStale = (path: string): boolean => Path.basename(path).startsWith("lock.stale.")
const isLock = (path: string): boolean => Path.basename(path) === "lock"
const tmpFds = new Set<number>()
let releasing = false
/** the kept file's second acquisition is under way */
let secondRound = false

const fs: FsPort = {
  ...nodeFs,
  openSync: (path, flags, mode) => {
    const fd = nodeFs.openSync(path, flags, mode)
    if (isTmp(path)) tmpFds.add(fd)
    return fd
  },
  writeSync: (fd, buffer, offset, length, position) => {
    if (tmpFds.has(fd)) stopAt("tmp-opened")
    return nodeFs.writeSync(fd, buffer, offset, length, position)
  },
  linkSync: (existing, to) => {
    if (isTmp(existing) && isLock(to)) stopAt(secondRound ? "kept-linking" : "tmp-written")
    nodeFs.linkSync(existing, to)
    if (isTmp(existing) && isLock(to)) stopAt("linked")
  },
  renameSync: (from, to) => {
    nodeFs.renameSync(from, to)
    if (isLock(from) && isStale(to)) stopAt("stale-renamed")
  },
  unlinkSync: (path) => {
    if (isStale(path)) stopAt("stale-unlinking")
    if (releasing && isLock(path)) stopAt("releasing")
    nodeFs.unlinkSync(path)
  }
}

const host = makeNodeLockHost()
const kept = step.startsWith("kept-") ? makeKeptLockFile() : undefined
const options = { fs, dir, host, timeoutMs: 30_000, ...(kept === undefined ? {} : { kept }) }
const program = Effect.gen(function*() {
  if (step === "loop" || step === "kept-loop") {
    for (let round = 0; ; round++) {
      const lock = yield* acquireLock(options)
      releaseLock(fs, lock)
      if (round === 0) NodeFs.writeSync(1, "LOOPING\n")
    }
  }
  if (kept !== undefined) {
    releaseLock(fs, yield* acquireLock(options))
    secondRound = true
  }
  const lock = yield* acquireLock(options)
  stopAt(kept === undefined ? "held" : "kept-held")
  releasing = true
  releaseLock(fs, lock)
  NodeFs.writeSync(1, `NOT STOPPED ${step}\n`)
})

Effect.runPromise(program).then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`lockStepper failed: ${String(error)}\n`)
    process.exit(1)
  }
)
