/**
 * R4, power loss. Per seed: a random sequence of install / enable / disable / uninstall commands (idempotency keys)
 * through the app layer on FaultFs, sometimes a process crash mid-command and a restart on the same disk (the page
 * cache survives), then a crash at a random op and a power loss that drops, keeps or tears every change not yet
 * fsynced. A rebooted machine reopens the home with the real fs. Checked: recovery succeeds; every command
 * acknowledged before the crash has its event in the log (and a command acknowledged as "no change" has none); the
 * log verifies (hashes, chain, unique ids); config.toml and the cache equal a fresh replay of the log into another
 * CODEX_HOME; retrying the interrupted command with its key records it at most once. The power loss often lands after
 * an answer and before its projection was made durable (the background settle): counted as `lossBeforeSettle`, and
 * a run of 50 seeds or more fails if no seed reaches that window.
 *
 * A negative control runs the same check on a disk that ignores directory fsyncs and must find violations.
 * Counts: `scaled(500, 10_000)` seeds; `SEED=<n> SEEDS=1` re-runs one.
 */
import * as NodeFs from "node:fs"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit } from "effect"
import { nodeTreeFs } from "../../src/adapters/TreeFs.ts"
import { FaultFs } from "../support/FaultFs.ts"
import { makeRandom, scaled, seedFor } from "../support/Soak.ts"
import {
  appendedNow,
  type Command,
  EVENT_OF,
  freshReplay,
  listTree,
  makeWorld,
  openSession,
  PLUGINS,
  projectionOf,
  quietly,
  readLog,
  reboot,
  runCommand,
  scratchDir,
  type Session,
  type World
} from "./World.ts"

const SEEDS = process.env["SEEDS"] !== undefined ? Number(process.env["SEEDS"]) : scaled(500, 10_000)
/** `TRACE=1`: print each step of the seeds (with `SEED=<n> SEEDS=1`, the story of one failure) */
const trace = process.env["TRACE"] === "1" ? (line: string) => console.log(line) : () => {}

const totals = {
  seeds: 0,
  crashesMidSequence: 0,
  restarts: 0,
  commands: 0,
  acknowledged: 0,
  ackedEventsChecked: 0,
  pendingChanges: 0,
  dropped: 0,
  torn: 0,
  leftovers: 0,
  retries: 0,
  /** power losses that hit an acknowledged event whose projection was not settled yet (the checkpoint behind it) */
  lossBeforeSettle: 0
}

/** The `seq` field of a JSON text (a log line, the checkpoint); 0 when it has none or does not parse. */
const seqOf = (text: string | undefined): number => {
  try {
    const parsed: unknown = JSON.parse(text ?? "")
    const seq: unknown = typeof parsed === "object" && parsed !== null ? Reflect.get(parsed, "seq") : undefined
    return typeof seq === "number" ? seq : 0
  } catch {
    return 0
  }
}

/** The seq of record `<key>:0` as the log files hold it now, and the checkpoint's seq (0 when absent). */
const seqsOnDisk = (paths: World["paths"], key: string): { readonly event: number; readonly checkpoint: number } => {
  const dir = Path.join(paths.ledgerDir, "events")
  const lines = NodeFs.existsSync(dir)
    ? NodeFs.readdirSync(dir).flatMap((name) => NodeFs.readFileSync(Path.join(dir, name), "utf8").split("\n"))
    : []
  const id = `"id":${JSON.stringify(`${key}:0`)}`
  const checkpoint = NodeFs.existsSync(paths.checkpointPath) ? NodeFs.readFileSync(paths.checkpointPath, "utf8") : undefined
  return { event: seqOf(lines.find((line) => line.includes(id))), checkpoint: seqOf(checkpoint) }
}

type Random = ReturnType<typeof makeRandom>

const randomCommand = (random: Random): Command => {
  const plugin = random.pick(PLUGINS)
  const roll = random.next()
  if (roll < 0.4) return { _tag: "Install", plugin }
  if (roll < 0.6) return { _tag: "Disable", plugin }
  if (roll < 0.8) return { _tag: "Enable", plugin }
  return { _tag: "Uninstall", plugin }
}

interface Calibration {
  readonly startup: number
  readonly perCommand: number
}

interface Acked {
  readonly key: string
  readonly command: Command
  readonly recorded: boolean
}

/** One seed; returns what went wrong (nothing, when all holds). */
const runSeed = (seed: number, dir: string, calibration: Calibration, lieAbout?: "dirs" | "files") =>
  Effect.gen(function*() {
    const random = makeRandom(seed)
    const world: World = makeWorld(dir)
    const fs = new FaultFs({ root: world.paths.codexHome, ...(lieAbout === undefined ? {} : { lieAbout }) })
    const commands = Array.from({ length: 2 + random.int(6) }, () => randomCommand(random))
    // the power loss comes at a uniformly random op of the whole run (or after it, when the run is shorter)
    const finalCrash = random.int(Math.ceil((calibration.startup + calibration.perCommand * commands.length) * 1.1))
    fs.crashAt(finalCrash)
    const acked: Array<Acked> = []
    let inFlight: { readonly key: string; readonly command: Command } | undefined
    let session: Session | undefined
    const open = (): Effect.Effect<Session | undefined> =>
      Effect.map(Effect.exit(openSession(world.paths, fs)), (exit) => (Exit.isSuccess(exit) ? exit.value : undefined))
    /** a process start; sometimes it dies during its own start-up (recovery included) and the next one starts */
    const start = (): Effect.Effect<Session | undefined> =>
      Effect.gen(function*() {
        const dieAt = random.next() < 0.15 ? fs.ops + random.int(calibration.startup) : undefined
        if (dieAt === undefined || dieAt >= finalCrash) return yield* open()
        fs.crashAt(dieAt)
        trace(`start-up crash armed at op ${dieAt}`)
        const dying = yield* open()
        if (dying !== undefined) yield* dying.close
        if (fs.crashed) totals.crashesMidSequence++
        totals.restarts++
        fs.restart()
        fs.crashAt(finalCrash)
        return yield* open()
      })

    session = yield* start()
    for (const [i, command] of commands.entries()) {
      if (session === undefined || fs.crashed) break
      const key = `s${seed}-c${i}`
      // sometimes the process dies inside this command and a new one starts on the same (powered) machine
      const restartAt = random.next() < 0.2 ? fs.ops + random.int(calibration.perCommand) : undefined
      if (restartAt !== undefined && restartAt < finalCrash) fs.crashAt(restartAt)
      inFlight = { key, command }
      totals.commands++
      trace(`op ${fs.ops}: ${command._tag} ${command.plugin} (${key})${restartAt === undefined ? "" : `, process crash armed at op ${restartAt}`}`)
      const exit = yield* Effect.exit(runCommand(session.engine, world, command, key))
      trace(`op ${fs.ops}: ${Exit.isSuccess(exit) ? `answered ${exit.value}` : `failed ${Cause.pretty(exit.cause).split("\n")[0]}`}${fs.crashed ? " (crashed)" : ""}`)
      if (Exit.isSuccess(exit) && !fs.crashed) {
        // what the answer says was recorded (enable/disable: `changed`) must be what the process appended
        const recorded = appendedNow(world.paths, key)
        if (command._tag !== "Uninstall" && recorded !== exit.value) return [`${key}: answered changed=${exit.value}, appended ${recorded}`]
        acked.push({ key, command, recorded })
        inFlight = undefined
      }
      if (restartAt !== undefined && restartAt < finalCrash) {
        if (fs.crashed) totals.crashesMidSequence++
        totals.restarts++
        yield* session.close
        fs.restart()
        fs.crashAt(finalCrash)
        session = yield* start()
        inFlight = undefined
      }
    }
    if (session !== undefined) yield* session.close
    // power loss: at the crash point, or now if the run ended first
    trace(`power loss at op ${fs.ops} (final crash armed at ${finalCrash})`)
    const loss = fs.powerLoss(random, random.pick([0, 0.3, 0.7, 1, random.next()]))
    trace(`power loss: ${JSON.stringify(loss)}`)
    totals.pendingChanges += loss.pendingEntries + loss.pendingData
    totals.dropped += loss.dropped
    totals.torn += loss.torn
    totals.acknowledged += acked.length
    const lastRecorded = acked.findLast((a) => a.recorded)
    if (lastRecorded !== undefined) {
      const seqs = seqsOnDisk(world.paths, lastRecorded.key)
      if (seqs.event > 0 && seqs.checkpoint < seqs.event) totals.lossBeforeSettle++
    }
    reboot()

    const problems: Array<string> = []
    const recovered = yield* Effect.exit(openSession(world.paths, nodeTreeFs))
    if (Exit.isFailure(recovered)) return [`recovery failed: ${Cause.pretty(recovered.cause)}`]
    yield* recovered.value.close
    const log = readLog(world.paths)
    if (!log.verify.ok) problems.push(`log does not verify: ${log.verify.problems.join("; ")}`)
    const byId = new Map(log.records.map((r) => [r.id, r]))
    for (const a of acked) {
      const record = byId.get(`${a.key}:0`)
      if (a.recorded) {
        totals.ackedEventsChecked++
        if (record === undefined) problems.push(`acknowledged ${a.command._tag} ${a.command.plugin} (${a.key}) is not in the log`)
        else if (record.type !== EVENT_OF[a.command._tag]) problems.push(`${a.key}:0 is a ${record.type}`)
      } else if (record !== undefined) {
        problems.push(`${a.key} was answered "no change" but recorded ${record.type}`)
      }
    }
    const projection = projectionOf(world.paths)
    totals.leftovers += listTree(world.paths.cacheDir).leftovers.length
    const replayed = yield* Effect.exit(freshReplay(world))
    if (Exit.isFailure(replayed)) return [...problems, `the replay of the log failed: ${Cause.pretty(replayed.cause).split("\n")[0]}`]
    const replay = replayed.value
    if (projection.config !== replay.config || projection.configMode !== replay.configMode) {
      problems.push(`config.toml differs from the replay:\n${projection.config}\n--- replay:\n${replay.config}`)
    }
    if (JSON.stringify(projection.cache) !== JSON.stringify(replay.cache)) {
      problems.push(`cache differs from the replay:\n${projection.cache.join("\n")}\n--- replay:\n${replay.cache.join("\n")}`)
    }
    // the client retries the command whose answer it never got: it lands at most once
    if (inFlight !== undefined) {
      totals.retries++
      const retry = yield* Effect.exit(openSession(world.paths, nodeTreeFs))
      if (Exit.isFailure(retry)) return [...problems, `reopen for the retry failed: ${Cause.pretty(retry.cause).split("\n")[0]}`]
      const exit = yield* Effect.exit(runCommand(retry.value.engine, world, inFlight.command, inFlight.key))
      yield* retry.value.close
      if (Exit.isFailure(exit) && Cause.hasDies(exit.cause)) {
        problems.push(`retry of ${inFlight.key} died: ${Cause.pretty(exit.cause)}`)
      }
      const after = readLog(world.paths)
      if (!after.verify.ok) problems.push(`log does not verify after the retry: ${after.verify.problems.join("; ")}`)
    }
    return problems
  })

const calibrate = (dir: string) =>
  Effect.gen(function*() {
    const world = makeWorld(dir)
    const fs = new FaultFs({ root: world.paths.codexHome })
    const session = yield* openSession(world.paths, fs)
    const startup = fs.ops
    const commands: ReadonlyArray<Command> = [
      { _tag: "Install", plugin: "alpha" },
      { _tag: "Install", plugin: "gamma" },
      { _tag: "Disable", plugin: "alpha" },
      { _tag: "Enable", plugin: "alpha" },
      { _tag: "Uninstall", plugin: "gamma" }
    ]
    for (const [i, command] of commands.entries()) yield* runCommand(session.engine, world, command, `cal-${i}`)
    yield* session.close
    return { startup, perCommand: Math.ceil((fs.ops - startup) / commands.length) }
  })

describe("R4 power loss", () => {
  it.live(`${SEEDS} seeds: no acknowledged event lost, projections equal a replay of the log`, () =>
    Effect.gen(function*() {
      const base = seedFor("PowerLoss")
      const dir = yield* scratchDir("powerloss")
      const calibration = yield* calibrate(dir)
      const failures: Array<string> = []
      for (let i = 0; i < SEEDS; i++) {
        const seed = base + i
        totals.seeds++
        const problems = yield* runSeed(seed, dir, calibration)
        if (problems.length > 0) {
          failures.push(`seed ${seed} (re-run: SEED=${seed} SEEDS=1 npx vitest run test/durability/PowerLoss.test.ts):\n  ${problems.join("\n  ")}`)
          if (failures.length >= 5) break
        }
      }
      console.log(`[PowerLoss] ${JSON.stringify({ ...totals, ...calibration })}`)
      assert.deepStrictEqual(failures, [])
      assert.isAbove(totals.ackedEventsChecked, 0)
      assert.isAbove(totals.dropped, 0)
      // the window this covers exists: answered, projection not yet made durable, power gone (recovery re-projects);
      // about one seed in three lands there, so only a run of many seeds must see it (not `SEEDS=1` re-runs)
      if (SEEDS >= 50) assert.isAbove(totals.lossBeforeSettle, 0)
    }).pipe(quietly), { timeout: scaled(120_000, 3_600_000) })

  for (const lieAbout of ["dirs", "files"] as const) {
    it.live(`negative control: a disk that ignores fsyncs of ${lieAbout} is caught`, () =>
      Effect.gen(function*() {
        const base = seedFor(`PowerLoss negative control (${lieAbout})`)
        const dir = yield* scratchDir(`powerloss-neg-${lieAbout}`)
        const calibration = yield* calibrate(dir)
        let found: string | undefined
        let seeds = 0
        for (; seeds < 200 && found === undefined; seeds++) {
          const problems = yield* runSeed(base + seeds, dir, calibration, lieAbout)
          found = problems[0]
        }
        console.log(`[PowerLoss negative control (${lieAbout})] caught after ${seeds} seeds: ${found?.split("\n")[0]}`)
        assert.isDefined(found, "200 seeds on a lying disk found nothing: the checks cannot fail")
      }).pipe(quietly), { timeout: 120_000 })
  }
})
