/**
 * The blobs an event refers to are durable before the event is written, now that a batch of blobs is an append to
 * a pack made durable by one fdatasync (and, for a new pack, fsyncs of its dirs). On FaultFs, one process installs a
 * plugin with a big file (its first pack) and then another plugin (an append to that pack); it crashes at every op
 * from the first install's start to its close, and the power goes off (every unsynced change dropped, or a random
 * half kept or torn). Then, on the real fs: the log verifies, and every `PluginInstalled` in it has its whole tree in
 * the blob store. A negative control skips the packs' fdatasyncs and must be caught.
 */
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { makeBlobStore } from "../../src/adapters/BlobStore.ts"
import { nodeFs } from "../../src/adapters/FsPort.ts"
import { treeAvailable } from "../../src/adapters/TreeBlobRefs.ts"
import type { TreeFs } from "../../src/adapters/TreeFs.ts"
import { FaultFs } from "../support/FaultFs.ts"
import { makeRandom, seedFor } from "../support/Soak.ts"
import { type Command, makeWorld, openSession, quietly, readLog, reboot, runCommand, scratchDir, type World } from "./World.ts"

const INSTALLS: ReadonlyArray<Command> = [{ _tag: "Install", plugin: "gamma" }, { _tag: "Install", plugin: "alpha" }]

/** FaultFs, but an fdatasync of a pack does nothing (a store that never made its blobs durable). */
const skippingPackSyncs = (fs: FaultFs): TreeFs => {
  const opened = new Map<number, string>()
  return {
    ...fs,
    openSync: (path, flags, mode) => {
      const fd = fs.openSync(path, flags, mode)
      opened.set(fd, path)
      return fd
    },
    fdatasyncAsync: (fd) => (opened.get(fd)?.endsWith(".pack") === true ? Promise.resolve() : fs.fdatasyncAsync(fd))
  }
}

/** Runs the installs on `fs`, crashing at op `crashAt` if it comes; the process is closed either way. */
const runUntilCrash = (world: World, fs: FaultFs, port: TreeFs, crashAt: number, opened: () => void = () => {}) =>
  Effect.gen(function*() {
    const session = yield* openSession(world.paths, port)
    opened()
    fs.crashAt(crashAt)
    for (const [i, command] of INSTALLS.entries()) {
      const done = yield* Effect.exit(runCommand(session.engine, world, command, `install-${i}`))
      if (done._tag === "Failure") break
    }
    yield* session.close
  }).pipe(Effect.ignore)

/** What is wrong after the power loss: events whose tree is not (wholly) in the blob store, or a broken log. */
const problemsOf = (world: World): ReadonlyArray<string> => {
  const log = readLog(world.paths)
  const blobs = makeBlobStore(nodeFs, world.paths.blobsDir)
  const problems = log.verify.ok ? [] : [`the log does not verify: ${log.verify.problems.join("; ")}`]
  for (const record of log.records) {
    const treeHash: unknown = record.type === "PluginInstalled" && typeof record.data === "object" && record.data !== null
      ? Reflect.get(record.data, "treeHash")
      : undefined
    if (typeof treeHash === "string" && !treeAvailable(blobs, treeHash)) problems.push(`seq ${record.seq} refers to tree ${treeHash}, which is gone`)
  }
  return problems
}

const crashEverywhere = (name: string, skipPackSyncs: boolean) =>
  Effect.gen(function*() {
    const random = makeRandom(seedFor(`BlobsBeforeEvent ${name}`))
    const dir = yield* scratchDir(`blobs-before-event-${skipPackSyncs ? "neg" : "pos"}`)
    // the dry run: the ops of the installs (numbered from the process's first op, as in every run below)
    const dryWorld = makeWorld(Path.join(dir, "w"))
    const dry = new FaultFs({ root: dryWorld.paths.codexHome })
    let start = 0
    yield* runUntilCrash(dryWorld, dry, dry, Number.MAX_SAFE_INTEGER, () => {
      start = dry.ops
    })
    const end = dry.ops
    assert.strictEqual(problemsOf(dryWorld).length, 0)
    assert.strictEqual(readLog(dryWorld.paths).records.filter((r) => r.type === "PluginInstalled").length, INSTALLS.length)
    const found: Array<string> = []
    let events = 0
    for (let crashAt = start; crashAt <= end; crashAt++) {
      const world = makeWorld(Path.join(dir, "w"))
      const fs = new FaultFs({ root: world.paths.codexHome })
      yield* runUntilCrash(world, fs, skipPackSyncs ? skippingPackSyncs(fs) : fs, crashAt)
      fs.powerLoss(random, crashAt % 2 === 0 ? 0 : 0.5)
      reboot()
      events += readLog(world.paths).records.filter((r) => r.type === "PluginInstalled").length
      for (const problem of problemsOf(world)) found.push(`crash at op ${crashAt}: ${problem}`)
    }
    console.log(`[BlobsBeforeEvent ${name}] crash points=${end - start + 1} installs that survived=${events} problems=${found.length}`)
    return { found, events }
  })

describe("the blobs before the event", () => {
  it.live("a crash at any op of two installs, then a power loss: every install in the log has its whole tree", () =>
    Effect.gen(function*() {
      const { found, events } = yield* crashEverywhere("crash points", false)
      assert.deepStrictEqual(found, [])
      assert.isAbove(events, 0, "some installs were acknowledged before the crash")
    }).pipe(quietly), { timeout: 300_000 })

  it.live("negative control: with the packs' fdatasyncs skipped, an event that refers to lost blobs is found", () =>
    Effect.gen(function*() {
      const { found } = yield* crashEverywhere("negative control", true)
      assert.isAbove(found.length, 0, "the check cannot fail")
    }).pipe(quietly), { timeout: 300_000 })
})
