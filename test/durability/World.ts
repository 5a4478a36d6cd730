/**
 * Shared set-up of the durability suites: a small real marketplace and CODEX_HOME in a temp dir, simulated
 * processes and reboots for the lock, engine sessions over the app layer (on FaultFs or the real fs), the
 * projection as bytes, and a fresh replay of a log into a second CODEX_HOME to compare it with.
 */
import { createHash } from "node:crypto"
import * as NodeFs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { Context, Effect, Exit, Layer, Logger, Scope } from "effect"
import type { LockHost } from "../../src/adapters/LockOwner.ts"
import { nodeFs } from "../../src/adapters/FsPort.ts"
import { openLogFile } from "../../src/adapters/LogFile.ts"
import type { VerifyReport } from "../../src/adapters/LogVerify.ts"
import type { LogRecord } from "../../src/adapters/LogRecordFormat.ts"
import { nodeTreeFs, type TreeFs } from "../../src/adapters/TreeFs.ts"
import { appLayer } from "../../src/cli/AppLayer.ts"
import { Engine, type EngineShape, type Origin } from "../../src/services/EngineApi.ts"
import { type LedgerPaths, makeLedgerPaths } from "../../src/services/LedgerPaths.ts"
import { Projector } from "../../src/services/Projector.ts"

/** tmpfs when there is one: the real-fs reopen and replay fsync everything, which on a disk costs minutes here. */
export const TMP_BASE = (() => {
  const fromEnv = process.env["DURABILITY_TMPDIR"]
  if (fromEnv !== undefined && fromEnv !== "") return fromEnv
  try {
    NodeFs.accessSync("/dev/shm", NodeFs.constants.W_OK)
    return NodeFs.statSync("/dev/shm").isDirectory() ? "/dev/shm" : Os.tmpdir()
  } catch {
    return Os.tmpdir()
  }
})()

/** A dir under TMP_BASE for one test, removed when its scope closes (however it ends), unless `KEEP=1`. */
export const scratchDir = (name: string): Effect.Effect<string, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => Path.join(TMP_BASE, `${name}-${process.pid}`)),
    (dir) =>
      Effect.sync(() => {
        if (process.env["KEEP"] === "1") console.log(`[durability] kept ${dir}`)
        else NodeFs.rmSync(dir, { recursive: true, force: true })
      })
  )

export const INITIAL_CONFIG = "# my settings\nmodel = \"gpt-5\"  # keep\n\n[features]\nplugins = true\n"
export const MARKET = "market"
export const PLUGINS = ["alpha", "beta", "gamma"] as const
export type PluginName = (typeof PLUGINS)[number]
export const idOf = (name: PluginName): string => `${name}@${MARKET}`

export interface World {
  readonly root: string
  readonly marketplacePath: string
  readonly paths: LedgerPaths
}

const writeFile = (path: string, content: string | Uint8Array, mode = 0o644): void => {
  NodeFs.mkdirSync(Path.dirname(path), { recursive: true })
  NodeFs.writeFileSync(path, content)
  NodeFs.chmodSync(path, mode)
}

/** alpha: nested dirs with their own mode, an executable; beta: one file; gamma: a file too big to inline. */
export const makeWorld = (root: string): World => {
  NodeFs.rmSync(root, { recursive: true, force: true })
  const repo = Path.join(root, "repo")
  const plugin = (name: string) => Path.join(repo, "plugins", name)
  for (const name of PLUGINS) writeFile(Path.join(plugin(name), ".codex-plugin", "plugin.json"), JSON.stringify({ name }))
  writeFile(Path.join(plugin("alpha"), "skills", "hello", "SKILL.md"), "---\nname: hello\ndescription: hi\n---\n")
  writeFile(Path.join(plugin("alpha"), "bin", "run.sh"), "#!/bin/sh\necho run\n", 0o755)
  writeFile(Path.join(plugin("alpha"), "nested", "a", "deep.txt"), "deep\n")
  NodeFs.chmodSync(Path.join(plugin("alpha"), "nested", "a"), 0o750)
  writeFile(Path.join(plugin("beta"), "beta.txt"), "beta\n", 0o600)
  writeFile(Path.join(plugin("gamma"), "data", "big.bin"), Buffer.alloc(70 * 1024, 7))
  const marketplacePath = Path.join(repo, ".agents", "plugins", "marketplace.json")
  writeFile(marketplacePath, JSON.stringify({
    name: MARKET,
    plugins: PLUGINS.map((name) => ({ name, source: { source: "local", path: `./plugins/${name}` } }))
  }))
  const paths = makeLedgerPaths({ codexHome: Path.join(root, "home"), home: Path.join(root, "userhome") })
  NodeFs.mkdirSync(paths.home, { recursive: true })
  writeFile(paths.configPath, INITIAL_CONFIG, 0o600)
  return { root: NodeFs.realpathSync(root), marketplacePath, paths }
}

/** Copies a tree with its modes (`cpSync` does not keep directory modes). */
export const copyTree = (from: string, to: string): void => {
  NodeFs.rmSync(to, { recursive: true, force: true })
  const walk = (src: string, dst: string): void => {
    const stat = NodeFs.lstatSync(src)
    if (stat.isDirectory()) {
      NodeFs.mkdirSync(dst, { mode: 0o700 })
      for (const name of NodeFs.readdirSync(src)) walk(Path.join(src, name), Path.join(dst, name))
      NodeFs.chmodSync(dst, stat.mode & 0o7777)
    } else if (stat.isFile()) {
      NodeFs.copyFileSync(src, dst)
      NodeFs.chmodSync(dst, stat.mode & 0o7777)
    }
  }
  walk(from, to)
}

// -------------------------------------------------------------------------------------------------
// Simulated processes: the suites run every "process" in this one, so the lock must be told who is alive

let nextPid = 0
let currentBoot = { id: "boot-0", atMs: 0 }

/** A new process on this machine (its pid is above Linux's pid_max, so it never names a real process). */
export const newProcess = (): LockHost => {
  const pid = 4_200_000 + nextPid++
  const boot = currentBoot
  return {
    pid,
    hostname: Os.hostname(),
    bootId: boot.id,
    startTimeOf: () => undefined,
    isAlive: (other) => other === pid,
    bootTimeMs: () => boot.atMs
  }
}

/** The machine rebooted (after a power loss): every earlier process is gone, and so is the boot they ran in. */
export const reboot = (): void => {
  currentBoot = { id: `boot-${nextPid}-${Date.now()}`, atMs: Date.now() + 1 }
}

// -------------------------------------------------------------------------------------------------
// Sessions

export interface Session {
  readonly engine: EngineShape
  /** waits for the settle after the answers so far and the spare inodes made after it (`Projector.settled`) */
  readonly settled: Effect.Effect<void>
  readonly close: Effect.Effect<void>
}

/** Starts a "process": builds the app layer (start-up recovery included) on `fs`. */
export const openSession = (paths: LedgerPaths, fs: TreeFs, host: LockHost = newProcess()): Effect.Effect<Session, unknown> =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const context = yield* Layer.buildWithScope(appLayer(paths, { fs, lockHost: host }), scope).pipe(
      Effect.onExit((exit) => (Exit.isSuccess(exit) ? Effect.void : Scope.close(scope, Exit.void)))
    )
    return {
      engine: Context.get(context, Engine),
      settled: Context.get(context, Projector).settled,
      close: Effect.ignore(Scope.close(scope, Exit.void))
    }
  })

/** Silences the engine's warnings (a crashed process logs a lot). */
export const quietly = <A, E, R>(program: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  program.pipe(Effect.provide(Logger.layer([])))

export const originFor = (key: string): Origin => ({ actor: "rpc", requestId: key, client: "durability", idempotencyKey: key })

export type Command =
  | { readonly _tag: "Install"; readonly plugin: PluginName }
  | { readonly _tag: "Enable"; readonly plugin: PluginName }
  | { readonly _tag: "Disable"; readonly plugin: PluginName }
  | { readonly _tag: "Uninstall"; readonly plugin: PluginName }

export const EVENT_OF: Record<Command["_tag"], string> = {
  Install: "PluginInstalled",
  Enable: "PluginEnabled",
  Disable: "PluginDisabled",
  Uninstall: "PluginUninstalled"
}

/** Runs a command; resolves to the seq of its last event when it recorded one, null when it changed nothing. */
export const runCommand = (engine: EngineShape, world: World, command: Command, key: string) => {
  const origin = originFor(key)
  switch (command._tag) {
    case "Install":
      return Effect.as(engine.install({ marketplacePath: world.marketplacePath, pluginName: command.plugin }, origin), true)
    case "Enable":
    case "Disable":
      return Effect.map(
        engine.setEnabled({ pluginId: idOf(command.plugin), enabled: command._tag === "Enable" }, origin),
        (view) => view.changed
      )
    case "Uninstall":
      return Effect.as(engine.uninstall({ pluginId: idOf(command.plugin) }, origin), true)
  }
}

// -------------------------------------------------------------------------------------------------
// What is on disk

export const isLeftover = (name: string): boolean => name.startsWith(".staging-") || name.startsWith(".trash-")

/** Every entry below `dir`: `dir <rel> <mode>` / `file <rel> <mode> <sha256>`, sorted; crash leftovers apart. */
export const listTree = (dir: string): { readonly entries: ReadonlyArray<string>; readonly leftovers: ReadonlyArray<string> } => {
  const entries: Array<string> = []
  const leftovers: Array<string> = []
  const walk = (rel: string): void => {
    const abs = rel === "" ? dir : Path.join(dir, rel)
    if (!NodeFs.existsSync(abs)) return
    for (const name of NodeFs.readdirSync(abs).sort()) {
      const child = rel === "" ? name : `${rel}/${name}`
      if (isLeftover(name)) {
        leftovers.push(child)
        continue
      }
      const stat = NodeFs.lstatSync(Path.join(dir, child))
      const mode = (stat.mode & 0o777).toString(8)
      if (stat.isDirectory()) {
        entries.push(`dir ${child} ${mode}`)
        walk(child)
      } else {
        const sha = createHash("sha256").update(NodeFs.readFileSync(Path.join(dir, child))).digest("hex").slice(0, 16)
        entries.push(`file ${child} ${mode} ${sha}`)
      }
    }
  }
  walk("")
  return { entries, leftovers }
}

export interface Projection {
  /** undefined: no config.toml */
  readonly config: string | undefined
  readonly configMode: string | undefined
  readonly cache: ReadonlyArray<string>
}

/**
 * The projection as bytes. An empty `<marketplace>` dir of the cache is left out: an uninstall leaves it (as Codex
 * does), and so does an install that crashed before its event (its staging dir is swept, its parent is not), so
 * whether one exists depends on history the log does not fully record; Codex reads only the plugin dirs in it.
 */
export const projectionOf = (paths: LedgerPaths): Projection => {
  const present = NodeFs.existsSync(paths.configPath)
  const cache = listTree(paths.cacheDir).entries
  const marketplaces = cache.filter((line) => /^dir [^/]+ /.test(line))
  const empty = new Set(marketplaces.filter((line) => {
    const name = line.split(" ")[1] ?? ""
    return !cache.some((other) => other.split(" ")[1]?.startsWith(`${name}/`) === true)
  }))
  return {
    config: present ? NodeFs.readFileSync(paths.configPath, "utf8") : undefined,
    configMode: present ? (NodeFs.statSync(paths.configPath).mode & 0o777).toString(8) : undefined,
    cache: cache.filter((line) => !empty.has(line))
  }
}

/** Whether the record `<key>:0` is in the log files as they are now (page cache included): what a command appended. */
export const appendedNow = (paths: LedgerPaths, key: string): boolean => {
  const dir = Path.join(paths.ledgerDir, "events")
  const needle = `"id":${JSON.stringify(`${key}:0`)}`
  return NodeFs.existsSync(dir) && NodeFs.readdirSync(dir).some((name) => NodeFs.readFileSync(Path.join(dir, name), "utf8").includes(needle))
}

/** The committed records and the verdict of a full verification, read with the real fs (no lock: the caller is alone). */
export const readLog = (paths: LedgerPaths): { readonly records: ReadonlyArray<LogRecord>; readonly verify: VerifyReport } => {
  const log = openLogFile({ fs: nodeFs, ledgerDir: paths.ledgerDir, nowMs: () => Date.now() })
  return { records: log.records(), verify: log.verify() }
}

/**
 * Copies the log and the blobs into a fresh CODEX_HOME (with the initial config.toml), opens it with the real fs
 * (start-up projects everything), and returns its projection.
 */
export const freshReplay = (world: World): Effect.Effect<Projection, unknown> =>
  Effect.gen(function*() {
    const paths = makeLedgerPaths({ codexHome: Path.join(world.root, "replay"), home: world.paths.home })
    NodeFs.rmSync(paths.codexHome, { recursive: true, force: true })
    writeFile(paths.configPath, INITIAL_CONFIG, 0o600)
    NodeFs.cpSync(Path.join(world.paths.ledgerDir, "events"), Path.join(paths.ledgerDir, "events"), { recursive: true })
    if (NodeFs.existsSync(world.paths.blobsDir)) NodeFs.cpSync(world.paths.blobsDir, paths.blobsDir, { recursive: true })
    const session = yield* openSession(paths, nodeTreeFs)
    yield* session.close
    const projection = projectionOf(paths)
    if (process.env["KEEP"] !== "1") NodeFs.rmSync(paths.codexHome, { recursive: true, force: true })
    return projection
  })
