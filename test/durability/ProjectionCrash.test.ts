/**
 * R5, crash during projection. For install, reinstall (changed source), enable, disable and uninstall: a dry run on
 * FaultFs finds the projection phase (every op after the log's fdatasync of the command's event, through the
 * background settle that makes the outputs durable after the answer and advances the checkpoint, up to the end of the
 * process); then the command is run again from the same state with a crash at EVERY op of that phase, once as a
 * process crash (the page cache survives) and, at every op that changes the disk or what is durable on it,
 * `scaled(20, 200)` times with a power loss on top (after a read the disk is as it was before it, so those draws
 * would repeat the next op's). Checked at the crash: config.toml is exactly the old or the new bytes (never empty or
 * partial). After a process crash the cache is exactly the old or the new tree (never a mix, never a partial tree),
 * or the instant between the two renames of a replace, where the plugin dir is absent and its complete old tree sits
 * in a `.trash-*` sibling (Node cannot exchange two directories atomically). After a power loss the cache is the new
 * tree whenever the checkpoint on disk covers the event (it is written only once the outputs are durable); when it
 * does not, the cache may be torn (it is derived data, not fsynced before the answer) and the restart must rebuild
 * it. After a restart with the real fs: config.toml and the cache are byte-identical to the new state, which itself
 * equals a fresh replay of the log, and the log verifies.
 *
 * Plus, for install, reinstall and uninstall: a power loss right after the answer, before the background settle,
 * drops the unsynced tree (the test checks the cache is then not the new tree and the checkpoint is older than the
 * event), keeps the event and its blobs, and the restart re-projects the event to the bytes of a fresh replay.
 *
 * `SEED=<n>` re-runs the power-loss draws of a run.
 */
import * as NodeFs from "node:fs"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { nodeTreeFs } from "../../src/adapters/TreeFs.ts"
import { FaultFs, type OpRecord } from "../support/FaultFs.ts"
import { makeRandom, scaled, seedFor } from "../support/Soak.ts"
import {
  type Command,
  copyTree,
  freshReplay,
  listTree,
  makeWorld,
  openSession,
  type PluginName,
  projectionOf,
  quietly,
  readLog,
  reboot,
  runCommand,
  scratchDir,
  type World
} from "./World.ts"

const POWER_LOSS_RUNS = scaled(20, 200)

interface Scenario {
  readonly name: string
  readonly setup: ReadonlyArray<Command>
  /** the plugin source is changed after the set-up, so a reinstall copies a different tree */
  readonly editSource?: PluginName
  readonly command: Command
}

const SCENARIOS: ReadonlyArray<Scenario> = [
  { name: "install", setup: [{ _tag: "Install", plugin: "beta" }], command: { _tag: "Install", plugin: "alpha" } },
  {
    name: "reinstall",
    setup: [{ _tag: "Install", plugin: "alpha" }, { _tag: "Install", plugin: "beta" }],
    editSource: "alpha",
    command: { _tag: "Install", plugin: "alpha" }
  },
  {
    name: "enable",
    setup: [{ _tag: "Install", plugin: "alpha" }, { _tag: "Disable", plugin: "alpha" }],
    command: { _tag: "Enable", plugin: "alpha" }
  },
  { name: "disable", setup: [{ _tag: "Install", plugin: "alpha" }], command: { _tag: "Disable", plugin: "alpha" } },
  {
    name: "uninstall",
    setup: [{ _tag: "Install", plugin: "alpha" }, { _tag: "Install", plugin: "beta" }],
    command: { _tag: "Uninstall", plugin: "alpha" }
  }
]

/** The state before the scenario's command: its setup commands run with the real fs, its source edited if it says so. */
const prepareScenario = (world: World, scenario: Scenario) =>
  Effect.gen(function*() {
    const setup = yield* openSession(world.paths, nodeTreeFs)
    for (const [i, command] of scenario.setup.entries()) yield* runCommand(setup.engine, world, command, `setup-${i}`)
    yield* setup.close
    if (scenario.editSource !== undefined) {
      const dir = Path.join(world.root, "repo", "plugins", scenario.editSource)
      NodeFs.writeFileSync(Path.join(dir, "skills", "hello", "SKILL.md"), "---\nname: hello\ndescription: changed\n---\n")
      NodeFs.writeFileSync(Path.join(dir, "added.txt"), "added\n")
    }
  })

interface Snapshot {
  readonly config: string | undefined
  readonly configMode: string | undefined
  readonly cache: string
}

const snapshot = (world: World): Snapshot => {
  const p = projectionOf(world.paths)
  return { config: p.config, configMode: p.configMode, cache: p.cache.join("\n") }
}

/** The seq checkpoint.json names (0 when there is none or it does not parse). */
const checkpointSeq = (world: World): number => {
  try {
    const parsed: unknown = JSON.parse(NodeFs.readFileSync(world.paths.checkpointPath, "utf8"))
    const seq: unknown = typeof parsed === "object" && parsed !== null ? Reflect.get(parsed, "seq") : undefined
    return typeof seq === "number" ? seq : 0
  } catch {
    return 0
  }
}

const label = (op: OpRecord | undefined): string =>
  op === undefined ? "?" : `${op.kind} ${op.path === undefined ? "" : Path.basename(op.path)} (${op.site ?? "?"})`

/** The cache may also be the instant between the two renames of a replace: plugin dir gone, old tree in the trash. */
const betweenRenames = (world: World, plugin: PluginName, old: Snapshot, now: ReadonlyArray<string>): boolean => {
  const marketDir = Path.join(world.paths.cacheDir, "market")
  const trash = NodeFs.existsSync(marketDir) ? NodeFs.readdirSync(marketDir).filter((n) => n.startsWith(`.trash-${plugin}-`)) : []
  const oldLines = old.cache.split("\n")
  const prefix = `market/${plugin}`
  const withoutPlugin = oldLines.filter((line) => !(line.split(" ")[1] ?? "").startsWith(prefix))
  const oldPlugin = oldLines
    .filter((line) => (line.split(" ")[1] ?? "").startsWith(`${prefix}/`))
    .map((line) => line.replace(`${prefix}/`, ""))
  return JSON.stringify(now) === JSON.stringify(withoutPlugin) &&
    trash.some((name) => JSON.stringify(listTree(Path.join(marketDir, name)).entries) === JSON.stringify(oldPlugin))
}

describe("R5 a checkpoint older than config.toml", () => {
  it.live("(its rename lost in a power loss) re-projects to the replay's bytes, not a reordered config.toml", () =>
    Effect.gen(function*() {
      const dir = yield* scratchDir("projcrash-older-checkpoint")
      const world = makeWorld(dir)
      const session = yield* openSession(world.paths, nodeTreeFs)
      yield* runCommand(session.engine, world, { _tag: "Install", plugin: "gamma" }, "k1")
      const older = NodeFs.readFileSync(world.paths.checkpointPath)
      yield* runCommand(session.engine, world, { _tag: "Uninstall", plugin: "gamma" }, "k2")
      yield* runCommand(session.engine, world, { _tag: "Install", plugin: "gamma" }, "k3")
      yield* runCommand(session.engine, world, { _tag: "Install", plugin: "beta" }, "k4")
      yield* session.close
      const before = snapshot(world)
      // what a power loss can leave: config.toml durable (fsynced with its dir), the last checkpoint renames not
      NodeFs.writeFileSync(world.paths.checkpointPath, older)
      const restarted = yield* openSession(world.paths, nodeTreeFs)
      yield* restarted.close
      const replay = yield* freshReplay(world)
      assert.deepStrictEqual(snapshot(world), before)
      assert.deepStrictEqual({ config: replay.config, configMode: replay.configMode, cache: replay.cache.join("\n") }, before)
    }).pipe(quietly))
})

describe("R5 crash during projection", () => {
  for (const scenario of SCENARIOS) {
    it.live(`${scenario.name}: crash at every projection step (${POWER_LOSS_RUNS} power losses each)`, () =>
      Effect.gen(function*() {
        const seed = seedFor(`ProjectionCrash ${scenario.name}`)
        const random = makeRandom(seed)
        const base = yield* scratchDir(`projcrash-${scenario.name}`)
        const work = Path.join(base, "w")
        const template = Path.join(base, "template")
        NodeFs.rmSync(base, { recursive: true, force: true })
        NodeFs.mkdirSync(base, { recursive: true })
        // the state before the command, built once with the real fs
        const world = makeWorld(work)
        yield* prepareScenario(world, scenario)
        copyTree(world.paths.codexHome, template)
        const old = snapshot(world)

        // the dry run: where the projection starts and ends, and the state it leaves
        const dry = new FaultFs({ root: world.paths.codexHome, recordSites: true })
        const session = yield* openSession(world.paths, dry)
        const startOps = dry.ops
        yield* runCommand(session.engine, world, scenario.command, "the-command")
        // the settle after the answer (fsyncs, checkpoint) is part of the projection; closing waits for it
        yield* session.close
        const endOps = dry.ops
        const trace = [...dry.trace]
        const append = trace.findLast((op) => op.index < endOps && op.kind === "fdatasyncSync" && op.path?.endsWith(".jsonl") === true)
        assert.isDefined(append, "the command appended an event")
        const steps = trace.filter((op) => op.index > (append?.index ?? endOps) && op.index < endOps)
        const expected = snapshot(world)
        const eventSeq = readLog(world.paths).records.at(-1)?.seq ?? 0
        assert.strictEqual(checkpointSeq(world), eventSeq, "a clean close leaves the checkpoint at the event")
        const replay = yield* freshReplay(world)
        assert.deepStrictEqual({ config: replay.config, configMode: replay.configMode, cache: replay.cache.join("\n") }, expected, "new state = replay")
        assert.notDeepEqual(expected, old, "the command changes something")

        const failures: Array<string> = []
        const counts = {
          steps: steps.length,
          mutatingSteps: steps.filter((op) => op.mutates).length,
          runs: 0,
          configOld: 0,
          configNew: 0,
          cacheOld: 0,
          cacheNew: 0,
          betweenRenames: 0,
          cacheTornNotCheckpointed: 0,
          checkpointed: 0
        }
        for (const step of steps) {
          // a crash right after a read leaves what a crash right before it does: the power losses go to the ops that
          // change the disk or what is durable on it
          const runs = step.mutates ? POWER_LOSS_RUNS : 0
          for (let run = 0; run <= runs && failures.length < 5; run++) {
            const where = `step ${step.index} ${label(step)}, ${run === 0 ? "process crash" : `power loss run ${run}`}, seed ${seed}`
            copyTree(template, world.paths.codexHome)
            const fs = new FaultFs({ root: world.paths.codexHome })
            const crashed = yield* openSession(world.paths, fs)
            if (fs.ops !== startOps) failures.push(`${where}: start-up took ${fs.ops} ops, the dry run ${startOps}`)
            fs.crashAt(step.index)
            const exit = yield* Effect.exit(runCommand(crashed.engine, world, scenario.command, "the-command"))
            yield* crashed.close
            counts.runs++
            if (!fs.crashed || Exit.isSuccess(exit) && fs.fired[0]?.index !== step.index) {
              failures.push(`${where}: did not crash there`)
              continue
            }
            if (fs.fired[0]?.kind !== step.kind) failures.push(`${where}: crashed at a ${fs.fired[0]?.kind}, the dry run had a ${step.kind}`)
            if (run > 0) {
              fs.powerLoss(random, random.pick([0, 0.5, 1, random.next()]))
              reboot()
            }
            // what a reader sees right after the crash
            const now = snapshot(world)
            if (now.config === old.config && now.configMode === old.configMode) counts.configOld++
            else if (now.config === expected.config && now.configMode === expected.configMode) counts.configNew++
            else failures.push(`${where}: config.toml is neither the old nor the new bytes:\n${now.config}`)
            const covered = checkpointSeq(world) >= eventSeq
            if (covered) counts.checkpointed++
            if (covered && (now.cache !== expected.cache || now.config !== expected.config)) {
              failures.push(`${where}: the checkpoint covers the event, but the projection is not the new state:\n${now.cache}`)
            } else if (now.cache === old.cache) counts.cacheOld++
            else if (now.cache === expected.cache) counts.cacheNew++
            else if (betweenRenames(world, scenario.command.plugin, old, now.cache === "" ? [] : now.cache.split("\n"))) counts.betweenRenames++
            else if (run > 0) counts.cacheTornNotCheckpointed++
            else failures.push(`${where}: the cache is neither the old nor the new tree:\n${now.cache}`)
            // a restarted process catches up
            const restarted = yield* Effect.exit(openSession(world.paths, nodeTreeFs))
            if (Exit.isFailure(restarted)) {
              failures.push(`${where}: restart failed`)
              continue
            }
            yield* restarted.value.close
            const after = snapshot(world)
            if (JSON.stringify(after) !== JSON.stringify(expected)) {
              failures.push(`${where}: after restart the projection is not the new state:\n${JSON.stringify(after)}\n--- expected:\n${JSON.stringify(expected)}`)
            }
            const log = readLog(world.paths)
            if (!log.verify.ok) failures.push(`${where}: log does not verify: ${log.verify.problems.join("; ")}`)
          }
        }
        console.log(`[ProjectionCrash ${scenario.name}] ${JSON.stringify(counts)} steps: ${steps.map((s) => `${s.kind}@${s.site}`).join(", ")}`)
        assert.deepStrictEqual(failures, [])
        assert.isAbove(counts.steps, 3)
        // both outcomes were seen wherever the command changes something (the crash points span the projection)
        if (old.config !== expected.config) assert.isTrue(counts.configOld > 0 && counts.configNew > 0, "config.toml: old and new seen")
        if (old.cache !== expected.cache) assert.isTrue(counts.cacheOld + counts.betweenRenames > 0 && counts.cacheNew > 0, "cache: old and new seen")
      }).pipe(quietly), { timeout: scaled(120_000, 3_600_000) })
  }
})

describe("R5 a power loss after the answer, before the background settle", () => {
  for (const scenario of SCENARIOS.filter((s) => s.name === "install" || s.name === "reinstall" || s.name === "uninstall")) {
    it.live(`${scenario.name}: the event and its blobs survive, the unsynced cache is rebuilt at restart to the replay's bytes`, () =>
      Effect.gen(function*() {
        const base = yield* scratchDir(`projcrash-after-answer-${scenario.name}`)
        const world = makeWorld(Path.join(base, "w"))
        yield* prepareScenario(world, scenario)
        const old = snapshot(world)
        const before = checkpointSeq(world)
        const fs = new FaultFs({ root: world.paths.codexHome, recordTrace: true })
        const session = yield* openSession(world.paths, fs)
        yield* runCommand(session.engine, world, scenario.command, "the-command")
        // the answer is in; the process dies at its next op (the settle has not run: checked below), then the power goes
        fs.crashAt(fs.ops)
        const answeredAt = fs.ops
        yield* session.close
        const synced = fs.trace.filter((op) => op.index < answeredAt && op.kind === "fsyncAsync" && op.path?.includes(`${Path.sep}plugins${Path.sep}cache`) === true)
        assert.deepStrictEqual(synced.map((op) => op.path), [], "nothing of the cache was fsynced before the answer")
        fs.powerLoss({ next: () => 0.99 }, 0)
        reboot()
        // what the disk holds now: the event (fdatasynced before the answer), an older checkpoint, not the new cache
        const log = readLog(world.paths)
        const event = log.records.find((r) => r.id === "the-command:0")
        assert.isDefined(event, "the acknowledged event survived the power loss")
        assert.isBelow(checkpointSeq(world), event?.seq ?? 0, "the checkpoint does not cover the event")
        assert.strictEqual(checkpointSeq(world), before, "the checkpoint is the one before the command")
        // every change not fsynced was dropped: the swap (or removal) of the tree and the rename of config.toml too
        assert.deepStrictEqual(snapshot(world), old, "the power loss took the command's projection back")
        // a restart re-projects the event from the log and the blobs
        const restarted = yield* openSession(world.paths, nodeTreeFs)
        yield* restarted.close
        const replay = yield* freshReplay(world)
        const after = snapshot(world)
        assert.deepStrictEqual(after, { config: replay.config, configMode: replay.configMode, cache: replay.cache.join("\n") })
        assert.notDeepEqual(after.cache, old.cache, "the command's change is there")
        assert.strictEqual(checkpointSeq(world), readLog(world.paths).records.at(-1)?.seq, "and the checkpoint now covers it")
      }).pipe(quietly))
  }
})
