/**
 * R9: a real process holding (or taking) the ledger lock is SIGKILLed at each step of the lock protocol (with a new
 * temp file per acquisition, and with one kept between acquisitions as an EventLog does), and at random moments of an
 * acquire/release loop; the next acquirer must get the lock within 2 s with no manual
 * cleanup, leaving no orphaned temp or stale files. While the holder is alive at those steps, the lock is never
 * taken from it. (test/adapters/FileLock.test.ts covers the rules with hand-written lock files; this suite uses
 * real processes stopped inside `acquireLock`.)
 */
import * as NodeFs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { releaseLock } from "../../src/adapters/FileLock.ts"
import { acquireLock } from "../../src/adapters/LockAcquisition.ts"
import { makeNodeLockHost } from "../../src/adapters/LockOwner.ts"
import { nodeFs } from "../../src/adapters/FsPort.ts"
import { bundled } from "../support/Bundle.ts"
import { LineChild, sleep } from "../support/LineChild.ts"
import { makeRandom, scaled, seedFor } from "../support/Soak.ts"

const STEPPER_SOURCE = Path.join(import.meta.dirname, "children", "lockStepper.ts")
const STEPS = [
  "tmp-opened",
  "tmp-written",
  "linked",
  "held",
  "stale-renamed",
  "stale-unlinking",
  "releasing",
  "loop",
  "kept-linking",
  "kept-held",
  "kept-loop"
] as const
type Step = (typeof STEPS)[number]
/** steps at which the stopped process owns `lock` */
const HOLDS: ReadonlySet<Step> = new Set(["linked", "held", "releasing", "kept-held"])
const LOOPS: ReadonlySet<Step> = new Set(["loop", "kept-loop"])

const host = makeNodeLockHost()
const lockFiles = (dir: string): Array<string> => NodeFs.readdirSync(dir).filter((n) => n.startsWith("lock")).sort()
const readLock = (dir: string): string | undefined => {
  try {
    return NodeFs.readFileSync(Path.join(dir, "lock"), "utf8")
  } catch {
    return undefined
  }
}

/** A pid that belonged to a process which has exited (`node -e ""`). */
const deadPid = async (): Promise<number> => {
  const child = new LineChild("-e", [""])
  await child.exit
  return child.pid
}

/** A lock left by a dead process, for the takeover steps. */
const writeDeadLock = (dir: string, pid: number): void =>
  NodeFs.writeFileSync(
    Path.join(dir, "lock"),
    JSON.stringify({ pid, host: host.hostname, bootId: host.bootId ?? null, startTime: null, nonce: `dead-${pid}` })
  )

const acquireTimed = async (dir: string, timeoutMs: number) => {
  const started = Date.now()
  const exit = await Effect.runPromise(Effect.exit(acquireLock({ fs: nodeFs, dir, host, timeoutMs })))
  return { exit, ms: Date.now() - started }
}

/** The next acquirer: gets the lock within 2 s, finds no debris, releases cleanly. */
const nextAcquirerSucceeds = async (dir: string, context: string): Promise<number> => {
  const { exit, ms } = await acquireTimed(dir, 2_000)
  if (exit._tag === "Failure") return assert.fail(`${context}: the next acquirer failed after ${ms} ms: ${String(exit.cause)}`)
  assert.isBelow(ms, 2_000, context)
  assert.deepStrictEqual(lockFiles(dir), ["lock"], `${context}: orphaned lock files`)
  assert.deepStrictEqual(JSON.parse(readLock(dir) ?? ""), exit.value.owner, context)
  assert.isTrue(releaseLock(nodeFs, exit.value), context)
  assert.deepStrictEqual(lockFiles(dir), [], context)
  return ms
}

const startStopped = async (script: string, dir: string, step: Step): Promise<LineChild> => {
  const child = new LineChild(script, [dir, step])
  await child.waitForLine((l) => l === (LOOPS.has(step) ? "LOOPING" : `AT ${step}`), 30_000)
  return child
}

describe("R9: the lock under SIGKILL of its holder", () => {
  it("kill at every lock step and at random times: the next acquirer succeeds within 2 s, no orphaned files", async () => {
    const seed = seedFor("lock-kill")
    const kills = scaled(56, 560)
    const script = await bundled(STEPPER_SOURCE)
    const root = NodeFs.mkdtempSync(Path.join(Os.tmpdir(), "lock-kill-"))
    const perStep = new Map<string, number>()
    const latencies: Array<number> = []
    try {
      await Promise.all([0, 1].map(async (lane) => {
        const random = makeRandom(seed + lane)
        const dir = Path.join(root, `lane-${lane}`)
        NodeFs.mkdirSync(dir)
        let dead = await deadPid()
        for (let k = lane; k < kills; k += 2) {
          const step = STEPS[k % STEPS.length] ?? "held"
          const context = `kill ${k} at ${step} (seed ${seed})`
          if (step === "stale-renamed" || step === "stale-unlinking") {
            if (k % 16 < 2) dead = await deadPid()
            writeDeadLock(dir, dead)
          }
          const child = await startStopped(script, dir, step)
          if (LOOPS.has(step)) await sleep(random.int(30))
          const exit = await child.kill()
          assert.strictEqual(exit.signal, "SIGKILL", `${context}: ${child.stderr}`)
          latencies.push(await nextAcquirerSucceeds(dir, context))
          perStep.set(step, (perStep.get(step) ?? 0) + 1)
        }
      }))
    } finally {
      NodeFs.rmSync(root, { recursive: true, force: true })
    }
    console.log(
      `[lock-kill] seed=${seed} kills=${latencies.length} per step ${JSON.stringify(Object.fromEntries(perStep))} ` +
        `next acquirer max=${Math.max(...latencies)}ms median=${latencies.sort((a, b) => a - b)[latencies.length >> 1]}ms (limit 2000ms)`
    )
    assert.strictEqual(latencies.length, kills)
  }, 300_000)

  it("while the stopped holder is alive it keeps the lock: 0 takeovers from a live pid", async () => {
    const seed = seedFor("lock-live")
    const random = makeRandom(seed)
    const probes = scaled(14, 140)
    const script = await bundled(STEPPER_SOURCE)
    const root = NodeFs.mkdtempSync(Path.join(Os.tmpdir(), "lock-live-"))
    let refused = 0
    let acquiredBesideLive = 0
    try {
      let dead = await deadPid()
      for (let k = 0; k < probes; k++) {
        const stopped = STEPS.filter((s) => !LOOPS.has(s))
        const step = stopped[k % stopped.length] ?? "held"
        const dir = Path.join(root, `probe-${k}`)
        NodeFs.mkdirSync(dir)
        const context = `probe ${k} at ${step} (seed ${seed})`
        if (step === "stale-renamed" || step === "stale-unlinking") {
          if (k % 7 === 0) dead = await deadPid()
          writeDeadLock(dir, dead)
        }
        const child = await startStopped(script, dir, step)
        try {
          const before = readLock(dir)
          const { exit, ms } = await acquireTimed(dir, 100 + random.int(200))
          if (HOLDS.has(step)) {
            // the live holder keeps it: a typed Locked error naming it, the lock file untouched
            if (exit._tag === "Success") return assert.fail(`${context}: took the lock from live pid ${child.pid}`)
            assert.include(String(exit.cause), `ledger is locked by pid ${child.pid}`, context)
            assert.strictEqual(readLock(dir), before, context)
            assert.isBelow(ms, 2_000, context)
            refused++
          } else {
            // the stopped process does not hold `lock` (yet): we may take it, but its live temp file stays
            if (exit._tag === "Failure") return assert.fail(`${context}: ${String(exit.cause)}`)
            if (step === "tmp-opened" || step === "tmp-written" || step === "kept-linking") {
              assert.isTrue(lockFiles(dir).some((n) => n.startsWith(`lock.tmp.${child.pid}.`)), `${context}: a live temp file was removed`)
            }
            assert.isTrue(releaseLock(nodeFs, exit.value), context)
            acquiredBesideLive++
          }
        } finally {
          await child.kill()
        }
        await nextAcquirerSucceeds(dir, `${context}, after the kill`)
      }
    } finally {
      NodeFs.rmSync(root, { recursive: true, force: true })
    }
    console.log(
      `[lock-live] seed=${seed} probes=${probes} refused-while-holder-alive=${refused} ` +
        `acquired-while-live-process-did-not-hold=${acquiredBesideLive} takeovers-from-live=0`
    )
  }, 300_000)
})
