/**
 * The install path's durability shortcuts, checked on real temp dirs: the checkpoint is written without fsync
 * (so a torn, empty or foreign one must count as absent and re-projection must converge on the same bytes),
 * trees and config.toml are built ahead of the event (so a refused or failed command must leave nothing behind),
 * tree blobs inline small files (format 2) but format-1 trees still materialize, and sweeps spare live processes.
 */
import { spawnSync } from "node:child_process"
import * as NodeFs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import * as NodeServices from "@effect/platform-node/NodeServices"
import { Effect, Layer } from "effect"
import { fsyncPaths } from "../../src/adapters/FsyncQueue.ts"
import { makeBlobStore } from "../../src/adapters/BlobStore.ts"
import { LedgerFs } from "../../src/adapters/LedgerFs.ts"
import { PluginBundle } from "../../src/adapters/PluginBundle.ts"
import { materialize, sweepLeftovers } from "../../src/adapters/PluginTree.ts"
import { encodeManifest } from "../../src/adapters/TreeBlob.ts"
import { nodeTreeFs, type TreeFs } from "../../src/adapters/TreeFs.ts"
import { Catalog } from "../../src/services/Catalog.ts"
import { EngineLayer } from "../../src/services/Engine.ts"
import { Engine, type EngineShape, type Origin } from "../../src/services/EngineApi.ts"
import { EventLog } from "../../src/services/EventLog.ts"
import { LedgerConfig } from "../../src/services/LedgerConfig.ts"
import { type LedgerPaths, makeLedgerPaths } from "../../src/services/LedgerPaths.ts"
import { MarketplaceDiscovery } from "../../src/services/MarketplaceDiscovery.ts"
import { SettleDelay } from "../../src/services/ProjectionDurability.ts"
import { Projector } from "../../src/services/Projector.ts"
import { storedBlobs } from "../support/BlobPacks.ts"
import { fileId, trackFds } from "../support/TrackedFds.ts"

const CONFIG = "# mine\n[features]\nplugins = true\n"
const origin: Origin = { actor: "rpc", requestId: "req-1", client: "durability-test" }

interface World {
  readonly root: string
  readonly marketplacePath: string
  readonly paths: LedgerPaths
}

const writeFile = (path: string, content: string | Uint8Array, mode = 0o644): void => {
  NodeFs.mkdirSync(Path.dirname(path), { recursive: true })
  NodeFs.writeFileSync(path, content)
  NodeFs.chmodSync(path, mode)
}

const makeWorld = (): World => {
  const root = NodeFs.realpathSync(NodeFs.mkdtempSync(Path.join(Os.tmpdir(), "durability-test-")))
  const repo = Path.join(root, "repo")
  for (const name of ["alpha", "beta"]) {
    const dir = Path.join(repo, "plugins", name)
    writeFile(Path.join(dir, ".codex-plugin", "plugin.json"), JSON.stringify({ name }))
    writeFile(Path.join(dir, "skills", "s", "SKILL.md"), `---\nname: s\ndescription: ${name}\n---\n`)
    writeFile(Path.join(dir, "bin", "run.sh"), "#!/bin/sh\n", 0o755)
    // bigger than the inline limit: stored as a blob of its own
    writeFile(Path.join(dir, "data", "big.bin"), Buffer.alloc(100 * 1024, name.length))
  }
  const marketplacePath = Path.join(repo, ".agents", "plugins", "marketplace.json")
  writeFile(marketplacePath, JSON.stringify({
    name: "market",
    plugins: ["alpha", "beta"].map((name) => ({ name, source: { source: "local", path: `./plugins/${name}` } }))
  }))
  const paths = makeLedgerPaths({ codexHome: Path.join(root, "home"), home: Path.join(root, "userhome") })
  NodeFs.mkdirSync(paths.home, { recursive: true })
  writeFile(paths.configPath, CONFIG)
  return { root, marketplacePath, paths }
}

const worldScoped = Effect.acquireRelease(
  Effect.sync(makeWorld),
  (world) => Effect.sync(() => NodeFs.rmSync(world.root, { recursive: true, force: true }))
)

/** The app layer of `AppLayer.ts`, with the ledger's file system swappable (and the settle's delay, `SettleDelay`). */
const layerWith = (paths: LedgerPaths, fs: TreeFs, settleDelayMs = 0) => {
  const base = Layer.mergeAll(LedgerConfig.layer(paths), LedgerFs.layerWith(fs), NodeServices.layer)
  const log = EventLog.layer({ ledgerDir: paths.ledgerDir, fs })
  const projector = Projector.layer.pipe(Layer.provide(Layer.mergeAll(base, log, Layer.succeed(SettleDelay, settleDelayMs))))
  const catalog = Catalog.layer.pipe(
    Layer.provide(Layer.mergeAll(MarketplaceDiscovery.layer, PluginBundle.layer)),
    Layer.provide(base)
  )
  // the Projector too, as `appLayer` gives it: tests wait on its `settled`
  return EngineLayer.pipe(Layer.provide(Layer.mergeAll(log, catalog, base)), Layer.provideMerge(projector))
}

const withEngine = <A, E>(world: World, f: (engine: EngineShape) => Effect.Effect<A, E>, fs: TreeFs = nodeTreeFs, settleDelayMs = 0) =>
  Engine.use(f).pipe(Effect.provide(layerWith(world.paths, fs, settleDelayMs)))

/** `withEngine`, with the Projector's `settled` (the background settle and the spares made after it, awaited) */
const withSettled = <A, E>(
  world: World,
  f: (engine: EngineShape, settled: Effect.Effect<void>) => Effect.Effect<A, E>,
  fs: TreeFs = nodeTreeFs,
  settleDelayMs = 0
) =>
  Effect.gen(function*() {
    const projector = yield* Projector
    return yield* Engine.use((engine) => f(engine, projector.settled))
  }).pipe(Effect.provide(layerWith(world.paths, fs, settleDelayMs)))

const sparesIn = (world: World): { readonly dirs: number; readonly files: number } => {
  const dir = Path.join(world.paths.ledgerDir, "spare")
  const names = NodeFs.existsSync(dir) ? NodeFs.readdirSync(dir) : []
  return { dirs: names.filter((name) => name.startsWith("d-")).length, files: names.filter((name) => name.startsWith("f-")).length }
}

const install = (world: World, pluginName: string) => (engine: EngineShape) =>
  engine.install({ marketplacePath: world.marketplacePath, pluginName }, origin)

/** Every path under `root` with its kind, mode and bytes, sorted. */
const listTree = (root: string): ReadonlyArray<string> => {
  if (!NodeFs.existsSync(root)) return []
  const out: Array<string> = []
  const walk = (rel: string): void => {
    for (const name of NodeFs.readdirSync(rel === "" ? root : Path.join(root, rel)).sort()) {
      const child = rel === "" ? name : `${rel}/${name}`
      const stat = NodeFs.lstatSync(Path.join(root, child))
      const mode = (stat.mode & 0o777).toString(8)
      if (stat.isDirectory()) {
        out.push(`dir ${child} ${mode}`)
        walk(child)
      } else out.push(`file ${child} ${mode} ${NodeFs.readFileSync(Path.join(root, child)).toString("base64")}`)
    }
  }
  walk("")
  return out
}

/** The projection: config.toml bytes and the cache tree. */
const projection = (world: World) => ({
  config: NodeFs.readFileSync(world.paths.configPath, "utf8"),
  cache: listTree(world.paths.cacheDir)
})

const leftovers = (world: World): ReadonlyArray<string> =>
  listTree(world.paths.codexHome)
    .map((line) => line.split(" ")[1] ?? "")
    .filter((rel) => /(^|\/)\.(staging|trash)-|\.tmp-/.test(rel) || rel.startsWith("ledger/blobs/tmp/"))

const logLines = (world: World): ReadonlyArray<string> => {
  const dir = Path.join(world.paths.ledgerDir, "events")
  return NodeFs.readdirSync(dir).sort().flatMap((name) => NodeFs.readFileSync(Path.join(dir, name), "utf8").split("\n").filter((l) => l !== ""))
}

const checkpointSeqOf = (world: World): unknown => {
  if (!NodeFs.existsSync(world.paths.checkpointPath)) return undefined
  const parsed: unknown = JSON.parse(NodeFs.readFileSync(world.paths.checkpointPath, "utf8"))
  return typeof parsed === "object" && parsed !== null ? Reflect.get(parsed, "seq") : undefined
}

describe("a damaged checkpoint", () => {
  const damages: ReadonlyArray<{ readonly name: string; readonly damage: (text: string) => string }> = [
    { name: "empty", damage: () => "" },
    { name: "torn in the middle", damage: (text) => text.slice(0, Math.floor(text.length / 2)) },
    { name: "old bytes after the new ones", damage: (text) => `${text.trimEnd()}0}\n` },
    { name: "a seq the log does not have with that hash", damage: (text) => text.replace(/"h":"[0-9a-f]+"/, `"h":"${"0".repeat(32)}"`) }
    // a seq beyond the log means records were lost, not a damaged checkpoint: see LostRecords.test.ts
  ]
  for (const { name, damage } of damages) {
    it.live(`${name}: counts as absent, and projecting everything again gives the same bytes`, () =>
      Effect.gen(function*() {
        const world = yield* worldScoped
        yield* withEngine(world, (engine) =>
          Effect.gen(function*() {
            yield* install(world, "alpha")(engine)
            yield* install(world, "beta")(engine)
            yield* engine.setEnabled({ pluginId: "beta@market", enabled: false }, origin)
            yield* engine.uninstall({ pluginId: "alpha@market" }, origin)
            yield* install(world, "alpha")(engine)
          }))
        const before = projection(world)
        const checkpoint = NodeFs.readFileSync(world.paths.checkpointPath, "utf8")
        NodeFs.writeFileSync(world.paths.checkpointPath, damage(checkpoint))
        // the cache is what a crash may have left: re-projection must rebuild it, not trust it
        NodeFs.rmSync(Path.join(world.paths.cacheDir, "market", "alpha", "local", "bin"), { recursive: true })
        yield* withEngine(world, () => Effect.void)
        assert.deepStrictEqual(projection(world), before)
        assert.strictEqual(NodeFs.readFileSync(world.paths.checkpointPath, "utf8"), checkpoint, "the checkpoint is whole again")
        assert.deepStrictEqual(leftovers(world), [])
      }))
  }

  it.live("the checkpoint advances after the answer, and closing waits for it", () =>
    Effect.gen(function*() {
      const world = yield* worldScoped
      const seqOf = (text: string): unknown => {
        const parsed: unknown = JSON.parse(text)
        return typeof parsed === "object" && parsed !== null ? Reflect.get(parsed, "seq") : undefined
      }
      const checkpointSeq = () => NodeFs.existsSync(world.paths.checkpointPath) ? seqOf(NodeFs.readFileSync(world.paths.checkpointPath, "utf8")) : undefined
      const atAnswer = yield* withEngine(world, (engine) =>
        Effect.gen(function*() {
          yield* install(world, "alpha")(engine)
          // no yield between the answer and this read: the settle has not run yet
          return { checkpoint: checkpointSeq(), head: logLines(world).length }
        }))
      assert.isBelow(Number(atAnswer.checkpoint), atAnswer.head, "at the answer the checkpoint does not cover the install yet")
      assert.strictEqual(checkpointSeq(), logLines(world).length, "after the close it does")
      // the config.toml the install replaced was kept alive past the rename (`retireLink`) and freed by the settle
      assert.deepStrictEqual(NodeFs.readdirSync(Path.join(world.paths.ledgerDir, "retired")), [])
    }))

  it.live("with a settle delay, the checkpoint advances only once it has passed, while the engine keeps running", () =>
    Effect.gen(function*() {
      const world = yield* worldScoped
      const seqs = yield* withEngine(world, (engine) =>
        Effect.gen(function*() {
          yield* install(world, "alpha")(engine)
          const atAnswer = checkpointSeqOf(world)
          // real time: the settle's own fsyncs are real I/O; bounded, not a timing assertion
          const deadline = Date.now() + 5_000
          while (checkpointSeqOf(world) !== logLines(world).length && Date.now() < deadline) yield* Effect.sleep("5 millis")
          return { atAnswer, later: checkpointSeqOf(world), head: logLines(world).length }
        }), nodeTreeFs, 30)
      assert.isBelow(Number(seqs.atAnswer), seqs.head, "not settled at the answer")
      assert.strictEqual(seqs.later, seqs.head, "settled after the delay, before the engine closed")
    }))

  it.effect("projections made within the delay share one settle, and closing does not wait for the delay", () =>
    Effect.gen(function*() {
      const world = yield* worldScoped
      const checkpointRenames: Array<string> = []
      const fs: TreeFs = {
        ...nodeTreeFs,
        renameSync: (from, to) => {
          if (to === world.paths.checkpointPath) checkpointRenames.push(from)
          nodeTreeFs.renameSync(from, to)
        }
      }
      // under the TestClock the hour never passes: only the close can start the settle
      const atStart = yield* withEngine(world, (engine) =>
        Effect.gen(function*() {
          // the start-up's own projection (the new ledger's first record) settles at once: no answer waits for it
          const atStart = checkpointRenames.length
          yield* install(world, "alpha")(engine)
          yield* install(world, "beta")(engine)
          yield* engine.setEnabled({ pluginId: "beta@market", enabled: false }, origin)
          assert.strictEqual(checkpointRenames.length, atStart, "nothing settled while the delay runs")
          return atStart
        }), fs, 60 * 60 * 1000)
      assert.strictEqual(checkpointRenames.length, atStart + 1, "one settle for the three commands")
      assert.strictEqual(checkpointSeqOf(world), logLines(world).length, "covering all of them")
      assert.deepStrictEqual(NodeFs.readdirSync(Path.join(world.paths.ledgerDir, "retired")), [])
    }))

  it.live("`settled` starts a settle waiting out its delay, and returns once it and the spares after it are made", () =>
    Effect.gen(function*() {
      const world = yield* worldScoped
      // an hour: the delay never passes during the test, so only `settled` can have started the settle
      const seen = yield* withSettled(world, (engine, settled) =>
        Effect.gen(function*() {
          // nothing projected by a command yet: returns at once, and makes no spares (only a settle's end does)
          yield* settled
          const before = sparesIn(world)
          yield* install(world, "alpha")(engine)
          const atAnswer = checkpointSeqOf(world)
          yield* settled
          return { before, atAnswer, settled: checkpointSeqOf(world), head: logLines(world).length, spares: sparesIn(world) }
        }), nodeTreeFs, 60 * 60 * 1000)
      assert.deepStrictEqual(seen.before, { dirs: 0, files: 0 })
      assert.isBelow(Number(seen.atAnswer), seen.head, "not settled at the answer")
      assert.strictEqual(seen.settled, seen.head, "settled when `settled` returned")
      assert.deepStrictEqual(seen.spares, { dirs: 16, files: 24 }, "and the pool refilled")
    }))

  it.live("an intact checkpoint is trusted: nothing is projected again at start-up", () =>
    Effect.gen(function*() {
      const world = yield* worldScoped
      yield* withEngine(world, install(world, "alpha"))
      const marker = Path.join(world.paths.cacheDir, "market", "alpha", "local", "marker")
      NodeFs.writeFileSync(marker, "left alone")
      yield* withEngine(world, () => Effect.void)
      assert.isTrue(NodeFs.existsSync(marker))
    }))
})

describe("files made from spares", () => {
  it.live("are written through the descriptors they were made with, fsynced through them by the settle, never opened again, and closed", () =>
    Effect.gen(function*() {
      const world = yield* worldScoped
      const tracked = trackFds()
      const spareDir = Path.join(world.paths.ledgerDir, "spare")
      const betaDir = Path.join(world.paths.cacheDir, "market", "beta")
      const opensBefore = yield* withSettled(world, (engine, settled) =>
        Effect.gen(function*() {
          yield* install(world, "alpha")(engine)
          // the spares are made after the first settle, in the background
          yield* settled
          assert.deepStrictEqual(sparesIn(world), { dirs: 16, files: 24 }, "spares were made")
          const opensBefore = tracked.opens.length
          yield* install(world, "beta")(engine)
          return opensBefore
        }), tracked.fs)
      const files = listTree(betaDir).filter((line) => line.startsWith("file ")).map((line) => Path.join(betaDir, line.split(" ")[1] ?? ""))
      assert.strictEqual(files.length, 4)
      const opens = tracked.opens.slice(opensBefore)
      // neither while the tree is built nor by the settle: no open of any of its files, by any name (its directories
      // are opened for their fsyncs, as ever)
      const openedPath = (open: string) => open.slice(open.indexOf(" ") + 1)
      assert.deepStrictEqual(opens.filter((open) => files.includes(openedPath(open)) || open.includes(".staging-beta")), [])
      assert.deepStrictEqual(opens.filter((open) => open.startsWith("r") && openedPath(open).startsWith(`${spareDir}${Path.sep}`)), [])
      const synced = new Set(tracked.fsyncs.map((sync) => sync.file))
      for (const file of files) assert.isTrue(synced.has(fileId(NodeFs.statSync(file))), `${file} was fsynced`)
      // and once the engine is closed, every descriptor opened through the port is closed, each once
      assert.deepStrictEqual([...tracked.open.values()], [])
      assert.deepStrictEqual(tracked.strayCloses, [])
    }))
})

describe("the manifest", () => {
  it.live("is read once: the cache holds the bytes the plan validated, even when the file is replaced right after", () =>
    Effect.gen(function*() {
      const world = yield* worldScoped
      const manifestPath = Path.join(world.root, "repo", "plugins", "alpha", ".codex-plugin", "plugin.json")
      const validated = NodeFs.readFileSync(manifestPath)
      const replaced = `${JSON.stringify({ name: "alpha", version: "2.0.0" })}\n`
      const reads: Array<string> = []
      // the plan opens it through its open dir (`/proc/self/fd/<fd>/plugin.json` on Linux)
      const isManifest = (path: string): boolean =>
        path === manifestPath || (path.startsWith("/proc/self/fd/") && path.endsWith("/plugin.json"))
      const noting = (kind: string, path: string): void => {
        if (isManifest(path)) reads.push(kind)
      }
      const fs: TreeFs = {
        ...nodeTreeFs,
        openSync: (path, flags, mode) => {
          noting("open", path)
          return nodeTreeFs.openSync(path, flags, mode)
        },
        readFileSync: (path) => {
          noting("readFile", path)
          return nodeTreeFs.readFileSync(path)
        },
        openNoFollowSync: (path) => {
          noting("openNoFollow", path)
          const fd = nodeTreeFs.openNoFollowSync(path)
          // another writer replaces it as soon as it is open: the open fd still reads the old file
          if (isManifest(path)) {
            NodeFs.writeFileSync(`${manifestPath}.new`, replaced)
            NodeFs.renameSync(`${manifestPath}.new`, manifestPath)
          }
          return fd
        }
      }
      yield* withEngine(world, install(world, "alpha"), fs)
      assert.deepStrictEqual(reads, ["openNoFollow"])
      const cached = Path.join(world.paths.codexHome, "plugins", "cache", "market", "alpha", "local", ".codex-plugin", "plugin.json")
      assert.deepStrictEqual(NodeFs.readFileSync(cached), validated)
      assert.strictEqual(NodeFs.readFileSync(manifestPath, "utf8"), replaced)
    }))
})

describe("work done ahead of the event", () => {
  it.live("a reinstall that changes nothing in config.toml does not rewrite it", () =>
    Effect.gen(function*() {
      const world = yield* worldScoped
      yield* withEngine(world, install(world, "alpha"))
      const before = NodeFs.statSync(world.paths.configPath)
      yield* withEngine(world, install(world, "alpha"))
      const after = NodeFs.statSync(world.paths.configPath)
      assert.strictEqual(after.ino, before.ino, "not replaced")
      assert.strictEqual(after.mtimeMs, before.mtimeMs, "not written")
      assert.strictEqual(logLines(world).length, 3, "the reinstall is still recorded")
      assert.deepStrictEqual(leftovers(world), [])
    }))

  it.live("a failure while storing the blobs appends nothing and leaves no prepared tree or temp file", () =>
    Effect.gen(function*() {
      const world = yield* worldScoped
      yield* withEngine(world, install(world, "alpha"))
      const before = { log: logLines(world), projection: projection(world) }
      const blobsBefore = storedBlobs(world.paths.blobsDir)
      const packsDir = Path.join(world.paths.blobsDir, "packs")
      const { fs: opened, opened: paths } = withOpenedPaths((fd, _path, sync) => sync(fd))
      // a disk that fills up in the middle of the append: half of the batch's bytes land
      const failing: TreeFs = {
        ...opened,
        writeSync: (fd, buffer, offset, length, position) => {
          if (paths.get(fd)?.startsWith(packsDir) !== true) return nodeTreeFs.writeSync(fd, buffer, offset, length, position)
          nodeTreeFs.writeSync(fd, buffer, offset, Math.floor(length / 2), position)
          throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" })
        }
      }
      const error = yield* withEngine(world, (engine) => Effect.flip(install(world, "beta")(engine)), failing)
      assert.strictEqual(error.kind, "Internal")
      assert.include(error.message, "ENOSPC")
      assert.deepStrictEqual(logLines(world), before.log)
      assert.deepStrictEqual(projection(world), before.projection)
      assert.deepStrictEqual(leftovers(world), [])
      // the half-written pack was removed: no torn record is left for a reader to stop at
      assert.deepStrictEqual(storedBlobs(world.paths.blobsDir), blobsBefore)
      assert.strictEqual(NodeFs.readdirSync(packsDir).length, 1, "the first install's pack, alone")
      // and the next attempt, with a healthy disk, installs it
      yield* withEngine(world, install(world, "beta"))
      assert.include(NodeFs.readFileSync(world.paths.configPath, "utf8"), "[plugins.\"beta@market\"]")
      assert.deepStrictEqual(leftovers(world), [])
    }))

  it.live("an fsync failure is not swallowed: the install fails before anything is recorded", () =>
    Effect.gen(function*() {
      const world = yield* worldScoped
      yield* withEngine(world, () => Effect.void)
      const before = logLines(world)
      const eio = () => Promise.reject(Object.assign(new Error("EIO: i/o error, fsync"), { code: "EIO" }))
      const failing: TreeFs = { ...nodeTreeFs, fsyncAsync: eio, fdatasyncAsync: eio }
      const error = yield* withEngine(world, (engine) => Effect.flip(install(world, "alpha")(engine)), failing)
      assert.include(error.message, "EIO")
      assert.deepStrictEqual(logLines(world), before)
      assert.deepStrictEqual(listTree(world.paths.cacheDir), [])
      assert.deepStrictEqual(leftovers(world), [])
    }))
})

describe("a source dir swapped while it is read", () => {
  /**
   * The source dir is opened twice: by the plan, to read its manifest, and then to read its tree. `at`: the swap (the
   * dir moved aside, a symlink out of the marketplace put at its name) comes right after the plan opened it, or right
   * before the tree's opening. Either open dir is no longer the one checked: the plan's is the moved dir, the tree's
   * is the one outside.
   */
  const swappedAt = (at: "plan" | "tree") =>
    Effect.gen(function*() {
      const world = yield* worldScoped
      yield* withEngine(world, () => Effect.void)
      const before = logLines(world)
      const source = Path.join(world.root, "repo", "plugins", "alpha")
      // outside the marketplace: the same plugin, plus what must never be copied
      const outside = Path.join(world.root, "outside")
      NodeFs.cpSync(source, outside, { recursive: true })
      writeFile(Path.join(outside, "secret.txt"), "secret\n")
      const swap = () => {
        NodeFs.renameSync(source, `${source}-aside`)
        NodeFs.symlinkSync(outside, source)
      }
      let opened = 0
      const swapping: TreeFs = {
        ...nodeTreeFs,
        openDirSync: (path, follow) => {
          if (path !== source) return nodeTreeFs.openDirSync(path, follow)
          opened += 1
          if (at === "tree" && opened === 2) swap()
          const fd = nodeTreeFs.openDirSync(path, follow)
          if (at === "plan" && opened === 1) swap()
          return fd
        }
      }
      const error = yield* withEngine(world, (engine) => Effect.flip(install(world, "alpha")(engine)), swapping)
      const now = at === "plan" ? `${source}-aside` : outside
      assert.strictEqual(
        error.message,
        `failed to install plugin: plugin source directory \`${source}\` changed while it was read: it was ${source}, it is now ${now}`
      )
      assert.strictEqual(opened, at === "plan" ? 1 : 2)
      assert.deepStrictEqual(logLines(world), before)
      assert.deepStrictEqual(listTree(world.paths.cacheDir), [])
      assert.strictEqual(NodeFs.readFileSync(world.paths.configPath, "utf8"), CONFIG)
      assert.deepStrictEqual(leftovers(world), [])
    })

  it.live("after the plan opened it: refused, and nothing is written", () => swappedAt("plan"))
  it.live("before its tree is read: refused, and nothing is written", () => swappedAt("tree"))
})

/**
 * The node file system remembering the path of every fd it opens, with `fsyncAsync` told that path (and
 * `fdatasyncAsync`, which then does an fdatasync).
 */
const withOpenedPaths = (fsyncAsync: (fd: number, path: string | undefined, sync: (fd: number) => Promise<void>) => Promise<void>) => {
  const opened = new Map<number, string>()
  const fs: TreeFs = {
    ...nodeTreeFs,
    openSync: (path, flags, mode) => {
      const fd = nodeTreeFs.openSync(path, flags, mode)
      opened.set(fd, path)
      return fd
    },
    fsyncAsync: (fd) => fsyncAsync(fd, opened.get(fd), nodeTreeFs.fsyncAsync),
    fdatasyncAsync: (fd) => fsyncAsync(fd, opened.get(fd), nodeTreeFs.fdatasyncAsync)
  }
  return { fs, opened }
}

describe("the blobs before the event", () => {
  it.live("the fsync of the new pack's directory (awaited under the lock, right before the append) failing records nothing", () =>
    Effect.gen(function*() {
      const world = yield* worldScoped
      yield* withEngine(world, () => Effect.void)
      const before = logLines(world)
      let failed = 0
      const { fs: failing } = withOpenedPaths((fd, path = "", sync) => {
        if (path === Path.join(world.paths.blobsDir, "packs")) {
          failed++
          return Promise.reject(Object.assign(new Error("EIO: i/o error, fsync"), { code: "EIO" }))
        }
        return sync(fd)
      })
      const error = yield* withEngine(world, (engine) => Effect.flip(install(world, "alpha")(engine)), failing)
      assert.isAbove(failed, 0, "a blob directory's fsync was reached")
      assert.include(error.message, "EIO")
      assert.deepStrictEqual(logLines(world), before, "no event refers to blobs that are not durable")
      assert.deepStrictEqual(listTree(world.paths.cacheDir), [])
      assert.deepStrictEqual(leftovers(world), [])
    }))
})

describe("what overlaps the fsyncs of an install", () => {
  it.live("slow fsyncs: the lock is taken and the command decided meanwhile, but the event waits for every blob fsync, and config.toml's rename for its temp file's", () =>
    Effect.gen(function*() {
      const world = yield* worldScoped
      yield* withEngine(world, () => Effect.void)
      const steps: Array<string> = []
      const rel = (path: string) => Path.relative(world.paths.codexHome, path)
      // every fsync of the install takes 30 ms: long enough for everything that does not wait for it to go first
      const traced = withOpenedPaths((fd, path = "?", sync) =>
        new Promise<void>((resolve) => setTimeout(resolve, 30))
          .then(() => sync(fd))
          .then(() => { steps.push(`synced ${rel(path)}`) })
      )
      const opened = traced.opened
      const slow: TreeFs = {
        ...traced.fs,
        writeSync: (fd, buffer, offset, length, position) => {
          if ((opened.get(fd) ?? "").endsWith(".jsonl")) steps.push("appended")
          return nodeTreeFs.writeSync(fd, buffer, offset, length, position)
        },
        linkSync: (existing, to) => {
          nodeTreeFs.linkSync(existing, to)
          if (to === Path.join(world.paths.ledgerDir, "lock")) steps.push("locked")
        },
        renameSync: (from, to) => {
          nodeTreeFs.renameSync(from, to)
          if (to === world.paths.configPath) steps.push("config.toml renamed")
        }
      }
      yield* withEngine(world, install(world, "alpha"), slow)
      const at = (step: string) => steps.indexOf(step)
      const blobSyncs = steps.filter((step) => step.startsWith("synced ledger/blobs"))
      const configSync = steps.find((step) => /^synced \.config\.toml\.tmp-/.test(step)) ?? "no fsync of config.toml's temp file"
      // the tree blob and the big file, appended to a new pack (one fdatasync), and the dirs that hold the pack
      assert.deepStrictEqual(blobSyncs.filter((step) => step.endsWith(".pack")).length, 1, steps.join("\n"))
      assert.include(blobSyncs, "synced ledger/blobs/packs", steps.join("\n"))
      assert.include(blobSyncs, "synced ledger/blobs", steps.join("\n"))
      assert.isAbove(at("locked"), -1, steps.join("\n"))
      assert.isBelow(at("locked"), at(blobSyncs[0] ?? ""), `the lock is taken before the first blob fsync is through:\n${steps.join("\n")}`)
      assert.isBelow(at("locked"), at(configSync), `and before config.toml's temp file is synced:\n${steps.join("\n")}`)
      for (const step of blobSyncs) assert.isBelow(at(step), at("appended"), `${step} before the event:\n${steps.join("\n")}`)
      assert.isBelow(at(configSync), at("config.toml renamed"), steps.join("\n"))
      assert.isBelow(at("appended"), at("config.toml renamed"), steps.join("\n"))
      assert.include(NodeFs.readFileSync(world.paths.configPath, "utf8"), "[plugins.\"alpha@market\"]")
      assert.deepStrictEqual(leftovers(world), [])
    }))
})

describe("the blobs of a second install", () => {
  it.live("go to the same pack: one write and one fdatasync, no file created or renamed, no directory fsynced", () =>
    Effect.gen(function*() {
      const world = yield* worldScoped
      const ops: Array<string> = []
      const rel = (path: string | undefined) => Path.relative(world.paths.blobsDir, path ?? "?")
      const inBlobs = (path: string | undefined) => path?.startsWith(world.paths.blobsDir) === true
      let tracing = false
      const traced = withOpenedPaths((fd, path, sync) => {
        if (tracing && inBlobs(path)) ops.push(`sync ${rel(path)}`)
        return sync(fd)
      })
      const note = (op: string, path: string | undefined) => {
        if (tracing && inBlobs(path)) ops.push(`${op} ${rel(path)}`)
      }
      const fs: TreeFs = {
        ...traced.fs,
        openSync: (path, flags, mode) => {
          note(`open(${flags})`, path)
          return traced.fs.openSync(path, flags, mode)
        },
        writeSync: (fd, buffer, offset, length, position) => {
          note("write", traced.opened.get(fd))
          return nodeTreeFs.writeSync(fd, buffer, offset, length, position)
        },
        renameSync: (from, to) => {
          note("rename", from)
          nodeTreeFs.renameSync(from, to)
        },
        mkdirSync: (path, options) => {
          note("mkdir", path)
          nodeTreeFs.mkdirSync(path, options)
        }
      }
      yield* withEngine(world, (engine) =>
        Effect.gen(function*() {
          yield* install(world, "alpha")(engine)
          tracing = true
          yield* install(world, "beta")(engine)
          tracing = false
        }), fs)
      const packs = NodeFs.readdirSync(Path.join(world.paths.blobsDir, "packs"))
      assert.strictEqual(packs.length, 1)
      const pack = `packs/${packs[0] ?? ""}`
      // beta's tree blob and its big file, in one append
      assert.deepStrictEqual(ops, [`open(r+) ${pack}`, `write ${pack}`, `sync ${pack}`])
      assert.strictEqual(storedBlobs(world.paths.blobsDir).length, 4)
    }))
})

describe("tree blobs", () => {
  it.live("a format-1 tree (one blob per file) still materializes", () =>
    Effect.gen(function*() {
      const world = yield* worldScoped
      const blobs = makeBlobStore(nodeTreeFs, world.paths.blobsDir)
      const files = [{ path: "a.txt", bytes: "alpha\n", mode: 0o644 }, { path: "d/run.sh", bytes: "#!/bin/sh\n", mode: 0o755 }]
      const [a, run] = yield* blobs.putAll(files.map((file) => Buffer.from(file.bytes)))
      const entries = [
        { path: "a.txt", type: "file" as const, mode: 0o644, sha256: a ?? "", size: 6 },
        { path: "d", type: "dir" as const, mode: 0o750 },
        { path: "d/run.sh", type: "file" as const, mode: 0o755, sha256: run ?? "", size: 10 }
      ]
      const [treeHash = ""] = yield* blobs.putAll([encodeManifest({ format: 1, entries })])
      const target = Path.join(world.paths.cacheDir, "m", "p")
      const durability = yield* materialize(nodeTreeFs, blobs, treeHash, target, { under: "local" })
      yield* fsyncPaths(nodeTreeFs, durability.files, durability.dirs)
      assert.deepStrictEqual(listTree(target), [
        "dir local 755",
        `file local/a.txt 644 ${Buffer.from(files[0]?.bytes ?? "").toString("base64")}`,
        "dir local/d 750",
        `file local/d/run.sh 755 ${Buffer.from(files[1]?.bytes ?? "").toString("base64")}`
      ])
    }))
})

describe("sweepLeftovers", () => {
  it("removes the leftovers of dead processes and keeps those of live ones", () => {
    const root = NodeFs.mkdtempSync(Path.join(Os.tmpdir(), "sweep-test-"))
    try {
      const dead = spawnSync(process.execPath, ["-e", ""]).pid
      const live = process.ppid
      const names = [
        `.staging-p-${dead}-0123456789ab`,
        `.staging-p-${live}-0123456789ab`,
        `.staging-p-${process.pid}-0123456789ab`,
        ".trash-p-no-pid",
        "kept"
      ]
      for (const name of names) NodeFs.mkdirSync(Path.join(root, "m", name), { recursive: true })
      sweepLeftovers(nodeTreeFs, root)
      assert.deepStrictEqual(
        NodeFs.readdirSync(Path.join(root, "m")).sort(),
        [`.staging-p-${live}-0123456789ab`, `.staging-p-${process.pid}-0123456789ab`, "kept"].sort()
      )
    } finally {
      NodeFs.rmSync(root, { recursive: true, force: true })
    }
  })
})
