/**
 * Model-based lifecycle test of the engine (issue 3, point 9): random sequences of install / enable / disable /
 * uninstall / hand edit of config.toml / cache tamper + verify --repair / crash / reopen (plus source edits, so
 * reinstalls copy new content, and idempotency keys drawn from a small pool, retried) over three plugins in two
 * marketplaces, one plugin name shared by both, starting from one of several user config.toml files (LF, CRLF,
 * no final newline, other plugin tables, empty, absent). After every step:
 *   (a) the projection (config.toml bytes + every path, mode and byte under `plugins/cache`) equals what a
 *       fresh replay of the same log produces in a separate, empty CODEX_HOME (only `ledger/events` and
 *       `ledger/blobs` copied, same initial config.toml; start-up catch-up projects everything), and that replay
 *       appends nothing (its own config check finds no difference);
 *   (b) the state matches a pure model: per plugin the cache (installed through the ledger), what config.toml
 *       says (table, `enabled`) and what the log says about it (they differ only while a hand edit waits for
 *       adoption); `plugin/list`, config.toml and the cached trees agree with it; every answer is the expected
 *       one; and every step appended exactly the events the model expects (adoptions included).
 * Crashes are simulated in process by what a crash leaves behind: a lost checkpoint (every event projected again;
 * only while no hand edit waits, see README), or a torn record at the end of the log; real SIGKILLs and power
 * loss are the other suites' job.
 * Sync from a recorded response (issue 5): two more plugins live in the curated marketplace mirror (`.tmp/plugins`,
 * installed at the mirror sha), and a `RemoteSync` step runs the remote curated sync against one of a few recorded
 * `/plugins/list` bodies (an injected fetch returns the bytes; one of them is malformed, so a failed, recorded sync
 * happens too); the model reconciles as 0.116.0 does, and the replay must reproduce it from the log and blobs alone.
 *
 * Counts: `npm test` 200 runs of <= 30 steps, `npm run test:soak` 1,000 runs of <= 100 steps. SEED (or
 * LEDGER_PROPERTY_SEED) and LEDGER_PROPERTY_PATH (fast-check's counterexample path) replay a failure;
 * LEDGER_PROPERTY_RUNS / LEDGER_PROPERTY_STEPS override the counts; LEDGER_PROPERTY_TMPDIR picks the temp dir.
 */
import * as NodeFs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Result, Scope } from "effect"
import { RemoteClientSettings } from "../../src/adapters/RemoteClient.ts"
import * as fc from "fast-check"
import { parseConfig, removePluginTable, setPluginEnabled } from "../../src/adapters/ConfigToml.ts"
import { appLayer } from "../../src/cli/AppLayer.ts"
import type { TreeProblemView } from "../../src/domain/PluginViews.ts"
import { Engine, type EngineShape, type Origin } from "../../src/services/EngineApi.ts"
import { type LedgerPaths, makeLedgerPaths } from "../../src/services/LedgerPaths.ts"
import { scaled, seedFor } from "../support/Soak.ts"

const envInt = (name: string, fallback: number): number => {
  const raw = process.env[name]
  if (raw === undefined || raw === "") return fallback
  const value = Number(raw)
  if (!Number.isInteger(value)) throw new Error(`${name} must be an integer, got ${raw}`)
  return value
}
const RUNS = envInt("LEDGER_PROPERTY_RUNS", scaled(200, 1_000))
const MAX_STEPS = envInt("LEDGER_PROPERTY_STEPS", scaled(30, 100))
const SEED = process.env["LEDGER_PROPERTY_SEED"] !== undefined ? envInt("LEDGER_PROPERTY_SEED", 0) : seedFor("Lifecycle.model")
const PATH = process.env["LEDGER_PROPERTY_PATH"]
/**
 * Where the temp worlds live: LEDGER_PROPERTY_TMPDIR, else /dev/shm when writable (tmpfs: the engine fsyncs every
 * file and dir it writes, which on a disk turns ~1,200 steps with a fresh replay each into minutes), else the OS
 * temp dir.
 */
const TMP_BASE = (() => {
  const fromEnv = process.env["LEDGER_PROPERTY_TMPDIR"]
  if (fromEnv !== undefined && fromEnv !== "") return fromEnv
  try {
    NodeFs.accessSync("/dev/shm", NodeFs.constants.W_OK)
    return NodeFs.statSync("/dev/shm").isDirectory() ? "/dev/shm" : Os.tmpdir()
  } catch {
    return Os.tmpdir()
  }
})()
const stats = {
  runs: 0,
  steps: 0,
  replays: 0,
  events: 0,
  keyedReplays: 0,
  keyConflicts: 0,
  handEdits: 0,
  adoptions: 0,
  tampers: 0,
  repairs: 0,
  crashes: 0,
  remoteSyncs: 0
}

const CANONICAL_CONFIG = "# user settings\nmodel = \"gpt-5\"\n\n[features]\nplugins = true\n\n[profiles.fast]\nmodel = \"o3\" # fast\n"

interface InitialConfig {
  readonly name: string
  /** undefined: no config.toml at all */
  readonly text: string | undefined
  /** `[features] plugins = true`: only then does `plugin/list` report `enabled` */
  readonly featuresOn: boolean
}
const CONFIGS: ReadonlyArray<InitialConfig> = [
  { name: "canonical", text: CANONICAL_CONFIG, featuresOn: true },
  { name: "crlf", text: CANONICAL_CONFIG.replaceAll("\n", "\r\n"), featuresOn: true },
  { name: "no-final-newline", text: "[features]\nplugins = true", featuresOn: true },
  {
    name: "other-plugins",
    text: "[features]\nplugins = true\n\n# set by hand\n[plugins.\"other@elsewhere\"]\nenabled = false\n\n[mcp_servers.docs]\ncommand = \"docs\"\n",
    featuresOn: true
  },
  { name: "empty", text: "", featuresOn: false },
  { name: "absent", text: undefined, featuresOn: false }
]

interface PluginSpec {
  readonly name: string
  readonly marketplace: string
  /** index into the world's marketplace roots (2: the curated mirror `$CODEX_HOME/.tmp/plugins`) */
  readonly root: 0 | 1 | 2
}
const PLUGINS: ReadonlyArray<PluginSpec> = [
  { name: "tool", marketplace: "m-one", root: 0 },
  { name: "kit", marketplace: "m-one", root: 0 },
  { name: "tool", marketplace: "m-two", root: 1 },
  { name: "linear", marketplace: "openai-curated", root: 2 },
  { name: "gmail", marketplace: "openai-curated", root: 2 }
]
const idOf = (p: PluginSpec): string => `${p.name}@${p.marketplace}`
const MIRROR_SHA = "0123456789abcdef0123456789abcdef01234567"
/** curated installs are cached under the mirror sha, as Codex does */
const versionOf = (p: PluginSpec): string => (p.root === 2 ? MIRROR_SHA : "local")
/** recorded `/plugins/list` bodies (the reference test's, and variants; the last one malformed) */
const RESPONSES: ReadonlyArray<string> = [
  "[{\"id\":\"1\",\"name\":\"linear\",\"marketplace_name\":\"openai-curated\",\"version\":\"1.0.0\",\"enabled\":true},{\"id\":\"2\",\"name\":\"gmail\",\"marketplace_name\":\"openai-curated\",\"version\":\"1.0.0\",\"enabled\":false}]",
  "[{\"name\":\"linear\",\"enabled\":true},{\"name\":\"gmail\",\"enabled\":true}]",
  "[]",
  "[{\"name\":\"gmail\",\"enabled\":true},{\"name\":\"unknown\",\"enabled\":true}]",
  "[{\"name\":\"linear\"}]"
]
/** what a response lists as enabled; undefined for a body that does not decode */
const enabledIn = (body: string): ReadonlySet<string> | undefined => {
  const parsed: unknown = JSON.parse(body)
  if (!Array.isArray(parsed) || parsed.some((e) => typeof e?.enabled !== "boolean")) return undefined
  return new Set(parsed.filter((e) => e.enabled === true).map((e) => String(e.name)))
}

interface World {
  readonly root: string
  readonly roots: readonly [string, string, string]
  readonly config: InitialConfig
  readonly paths: LedgerPaths
}

const writeFile = (path: string, content: string, mode = 0o644): void => {
  NodeFs.mkdirSync(Path.dirname(path), { recursive: true })
  NodeFs.writeFileSync(path, content)
  NodeFs.chmodSync(path, mode)
}
const marketplaceFile = (root: string): string => Path.join(root, ".agents", "plugins", "marketplace.json")
const sourceDir = (world: World, p: PluginSpec): string => Path.join(world.roots[p.root], "plugins", p.name)
const writeInitialConfig = (paths: LedgerPaths, config: InitialConfig): void => {
  NodeFs.mkdirSync(paths.codexHome, { recursive: true })
  if (config.text !== undefined) writeFile(paths.configPath, config.text)
}

const makeWorld = (config: InitialConfig): World => {
  const root = NodeFs.realpathSync(NodeFs.mkdtempSync(Path.join(TMP_BASE, "replay-prop-")))
  const paths = makeLedgerPaths({ codexHome: Path.join(root, "home"), home: Path.join(root, "userhome") })
  const roots: readonly [string, string, string] = [Path.join(root, "repo-one"), Path.join(root, "repo-two"), paths.curatedRoot]
  roots.forEach((dir, index) => {
    const own = PLUGINS.filter((p) => p.root === index)
    writeFile(marketplaceFile(dir), JSON.stringify({
      name: own[0]?.marketplace ?? "",
      plugins: own.map((p) => ({ name: p.name, source: { source: "local", path: `./plugins/${p.name}` } }))
    }))
  })
  for (const p of PLUGINS) {
    const dir = Path.join(roots[p.root], "plugins", p.name)
    writeFile(Path.join(dir, ".codex-plugin", "plugin.json"), JSON.stringify({ name: p.name, description: idOf(p) }))
    writeFile(Path.join(dir, "skills", "s", "SKILL.md"), `---\nname: s\ndescription: ${idOf(p)}\n---\n`)
    writeFile(Path.join(dir, ".mcp.json"), "{\"mcpServers\":{}}\n")
    writeFile(Path.join(dir, "bin", "run"), `#!/bin/sh\necho ${idOf(p)}\n`, 0o755)
    writeFile(Path.join(dir, "data", "version.txt"), "v0\n")
  }
  NodeFs.mkdirSync(paths.home, { recursive: true })
  writeFile(paths.curatedShaPath, `${MIRROR_SHA}\n`)
  writeFile(paths.authPath, JSON.stringify({ tokens: { access_token: "model-token", account_id: "model-account" } }), 0o600)
  writeInitialConfig(paths, config)
  return { root, roots, config, paths }
}

const octal = (mode: number): string => (mode & 0o777).toString(8).padStart(3, "0")

const listTree = (root: string): ReadonlyArray<string> => {
  if (!NodeFs.existsSync(root)) return []
  const out: Array<string> = []
  const walk = (rel: string): void => {
    for (const name of NodeFs.readdirSync(rel === "" ? root : Path.join(root, rel)).sort()) {
      const childRel = rel === "" ? name : `${rel}/${name}`
      const full = Path.join(root, childRel)
      const stat = NodeFs.lstatSync(full)
      if (stat.isSymbolicLink()) out.push(`symlink ${childRel} -> ${NodeFs.readlinkSync(full)}`)
      else if (stat.isDirectory()) {
        out.push(`dir ${childRel} ${octal(stat.mode)}`)
        walk(childRel)
      } else out.push(`file ${childRel} ${octal(stat.mode)} ${NodeFs.readFileSync(full).toString("base64")}`)
    }
  }
  walk("")
  return out
}

interface Projection {
  /** undefined: no config.toml */
  readonly config: string | undefined
  readonly configMode: string | undefined
  readonly cache: ReadonlyArray<string>
}
const projectionOf = (paths: LedgerPaths): Projection => {
  const present = NodeFs.existsSync(paths.configPath)
  return {
    config: present ? NodeFs.readFileSync(paths.configPath, "utf8") : undefined,
    configMode: present ? octal(NodeFs.statSync(paths.configPath).mode) : undefined,
    cache: listTree(paths.cacheDir)
  }
}

const countRecords = (paths: LedgerPaths): number => {
  const dir = Path.join(paths.ledgerDir, "events")
  return NodeFs.readdirSync(dir)
    .filter((name) => name.endsWith(".jsonl"))
    .reduce((n, name) => n + NodeFs.readFileSync(Path.join(dir, name), "utf8").split("\n").filter((l) => l.length > 0).length, 0)
}

/** Copies the log and the blobs into a new CODEX_HOME with the initial config.toml, opens it, returns its projection. */
const freshReplay = Effect.fnUntraced(function*(world: World, n: number) {
  const paths = makeLedgerPaths({ codexHome: Path.join(world.root, `replay-${n}`), home: world.paths.home })
  writeInitialConfig(paths, world.config)
  NodeFs.cpSync(Path.join(world.paths.ledgerDir, "events"), Path.join(paths.ledgerDir, "events"), { recursive: true })
  if (NodeFs.existsSync(world.paths.blobsDir)) NodeFs.cpSync(world.paths.blobsDir, paths.blobsDir, { recursive: true })
  const copied = countRecords(paths)
  yield* Engine.use(() => Effect.void).pipe(Effect.provide(appLayer(paths)))
  const projection = { ...projectionOf(paths), appended: countRecords(paths) - copied }
  NodeFs.rmSync(paths.codexHome, { recursive: true, force: true })
  stats.replays += 1
  return projection
})

type CommandTag = "Install" | "Enable" | "Disable" | "Uninstall"
const EVENT_OF: Record<CommandTag, string> = {
  Install: "PluginInstalled",
  Enable: "PluginEnabled",
  Disable: "PluginDisabled",
  Uninstall: "PluginUninstalled"
}
type Step =
  | { readonly _tag: CommandTag; readonly plugin: number; readonly key: string | undefined }
  | { readonly _tag: "EditSource"; readonly plugin: number }
  | { readonly _tag: "Restart" }
  /** the client retries its last command, same key (if it had one) */
  | { readonly _tag: "Retry" }
  /**
   * The user edits config.toml: flips `enabled`, removes or adds the plugin's table (whichever applies), or adds a
   * comment; adopted right away (what the daemon's watcher does) or left for the next command or start-up.
   */
  | { readonly _tag: "HandEdit"; readonly plugin: number; readonly kind: "toggle" | "comment"; readonly adoptNow: boolean }
  /** something modifies, deletes or adds a file in a plugin's cache; `verify` finds it and `--repair` restores it */
  | { readonly _tag: "Tamper"; readonly plugin: number; readonly kind: "modify" | "delete" | "extra" }
  /** what a crash leaves behind, then a reopen: no checkpoint, or a torn record at the end of the log */
  | { readonly _tag: "Crash"; readonly kind: "checkpoint-lost" | "torn-tail" }
  /** the remote curated sync, answered with one of the recorded bodies */
  | { readonly _tag: "RemoteSync"; readonly response: number }

const pluginIndex = fc.integer({ min: 0, max: PLUGINS.length - 1 })
/** mostly no key; sometimes one of four, so retries (same key; the same command or another) happen */
const keyArb: fc.Arbitrary<string | undefined> = fc.oneof(
  { arbitrary: fc.constant(undefined), weight: 4 },
  { arbitrary: fc.constantFrom("key-a", "key-b", "key-c", "key-d"), weight: 1 }
)
const command = (tag: CommandTag) =>
  fc.record({ plugin: pluginIndex, key: keyArb }).map(({ key, plugin }): Step => ({ _tag: tag, plugin, key }))
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { arbitrary: command("Install"), weight: 4 },
  { arbitrary: command("Enable"), weight: 3 },
  { arbitrary: command("Disable"), weight: 3 },
  { arbitrary: command("Uninstall"), weight: 2 },
  { arbitrary: pluginIndex.map((plugin): Step => ({ _tag: "EditSource", plugin })), weight: 1 },
  { arbitrary: fc.constant<Step>({ _tag: "Restart" }), weight: 1 },
  { arbitrary: fc.constant<Step>({ _tag: "Retry" }), weight: 2 },
  {
    arbitrary: fc.record({ plugin: pluginIndex, kind: fc.constantFrom("toggle", "toggle", "comment"), adoptNow: fc.boolean() })
      .map((r): Step => ({ _tag: "HandEdit", ...r })),
    weight: 3
  },
  {
    arbitrary: fc.record({ plugin: pluginIndex, kind: fc.constantFrom("modify", "delete", "extra") }).map((r): Step => ({ _tag: "Tamper", ...r })),
    weight: 1
  },
  { arbitrary: fc.constantFrom("checkpoint-lost", "torn-tail").map((kind): Step => ({ _tag: "Crash", kind })), weight: 1 },
  { arbitrary: fc.integer({ min: 0, max: RESPONSES.length - 1 }).map((response): Step => ({ _tag: "RemoteSync", response })), weight: 2 }
)
const scenarioArb = fc.record({
  config: fc.integer({ min: 0, max: CONFIGS.length - 1 }),
  steps: fc.array(stepArb, { minLength: 1, maxLength: MAX_STEPS, size: "max" })
})

/** What config.toml holds for a plugin: no table, or a table with `enabled`. */
interface TableModel {
  readonly configured: boolean
  readonly enabled: boolean
}
const noTable: TableModel = { configured: false, enabled: false }
const sameTable = (a: TableModel, b: TableModel) => a.configured === b.configured && (!a.configured || a.enabled === b.enabled)

interface ModelPlugin {
  /** a cache tree is projected (installed through the ledger) */
  readonly cache: boolean
  /** what config.toml says */
  readonly file: TableModel
  /** what the log says config.toml holds (differs from `file` only while a hand edit waits for adoption) */
  readonly logged: TableModel
  /** the cached tree: the source as it was at the last applied install */
  readonly tree: ReadonlyArray<string> | undefined
}
const notInstalled: ModelPlugin = { cache: false, file: noTable, logged: noTable, tree: undefined }
const pendingAdoptions = (model: ReadonlyArray<ModelPlugin>): number => model.filter((m) => !sameTable(m.file, m.logged)).length
/** the adoption every command, start-up and `adoptConfigEdits` begin with */
const adoptAll = (model: Array<ModelPlugin>): void => {
  model.forEach((m, i) => {
    model[i] = { ...m, logged: m.file }
  })
}

const originFor = (key: string | undefined): Origin => ({
  actor: "rpc",
  requestId: "prop",
  client: "replay-property",
  ...(key === undefined ? {} : { idempotencyKey: key })
})

interface Session {
  readonly scope: Scope.Closeable
  readonly engine: EngineShape
}
const openSession = Effect.fnUntraced(function*(paths: LedgerPaths) {
  const scope = yield* Scope.make()
  const context = yield* Layer.buildWithScope(appLayer(paths), scope).pipe(
    Effect.onError(() => Scope.close(scope, Exit.void))
  )
  return { scope, engine: Context.get(context, Engine) }
})

const spec = (index: number): PluginSpec => {
  const p = PLUGINS[index]
  if (p === undefined) throw new Error(`no plugin ${index}`)
  return p
}

/** A hand-made note: not part of the log, so it is left out when the live config.toml is compared with a replay. */
const HAND_NOTE = /^# hand note \d+\r?\n/gm
const withoutNotes = (text: string | undefined) => text?.replace(HAND_NOTE, "")

/** what Codex reads of a config.toml: the plugin tables, sorted */
const tablesOf = (text: string | undefined) => {
  const parsed = parseConfig(text ?? "")
  return Result.isSuccess(parsed) ? [...parsed.success.plugins].sort(([a], [b]) => (a < b ? -1 : 1)) : parsed.failure.message
}

const edited = (result: Result.Result<string, { readonly message: string }>, where: string): string =>
  Result.isSuccess(result) ? result.success : assert.fail(`${where}: the test's own edit failed: ${result.failure.message}`)

const runScenario = (scenario: { readonly config: number; readonly steps: ReadonlyArray<Step> }) =>
  Effect.acquireUseRelease(
    Effect.sync(() => makeWorld(CONFIGS[scenario.config] ?? CONFIGS[0] ?? { name: "none", text: undefined, featuresOn: false })),
    (world) =>
      Effect.gen(function*() {
        let session: Session = yield* openSession(world.paths)
        yield* Effect.addFinalizer(() => Scope.close(session.scope, Exit.void))
        const model: Array<ModelPlugin> = PLUGINS.map(() => notInstalled)
        /** idempotency keys whose command appended events: what it recorded, and the seq of its last event */
        const usedKeys = new Map<string, { readonly type: string; readonly pluginId: string; readonly seq: number }>()
        let edits = 0
        let notes = 0
        /** a hand edit made by hand (not by the ledger) may leave config.toml with the user's mode rather than 0600 */
        let handWritten = false
        /** after a lost checkpoint every edit is made again: the same tables, maybe in another order (README) */
        let checkpointLost = false
        let layoutMoved = false
        let lastCommand: Step | undefined
        let records = countRecords(world.paths)
        stats.runs += 1

        const reopen = Effect.gen(function*() {
          yield* Scope.close(session.scope, Exit.void)
          session = yield* openSession(world.paths)
        })
        const readConfigText = () => (NodeFs.existsSync(world.paths.configPath) ? NodeFs.readFileSync(world.paths.configPath, "utf8") : "")

        for (const [n, generated] of scenario.steps.entries()) {
          const step: Step = generated._tag === "Retry" ? lastCommand ?? generated : generated
          if (step._tag === "Install" || step._tag === "Enable" || step._tag === "Disable" || step._tag === "Uninstall") lastCommand = step
          const where = `[${world.config.name}] step ${n} ${JSON.stringify(generated)}${step === generated ? "" : ` = ${JSON.stringify(step)}`}`
          let appended = 0
          if (step._tag === "Retry") {
            // nothing to retry yet
          } else if (step._tag === "Restart") {
            yield* reopen
            appended = pendingAdoptions(model)
            adoptAll(model)
          } else if (step._tag === "Crash" && step.kind === "checkpoint-lost" && pendingAdoptions(model) > 0) {
            // a lost checkpoint makes every event pending again: a hand edit waiting for adoption can then coincide
            // with a state the log passed through and be taken for it (documented); only unambiguous cases here
          } else if (step._tag === "Crash") {
            stats.crashes += 1
            yield* Scope.close(session.scope, Exit.void)
            if (step.kind === "checkpoint-lost") {
              NodeFs.rmSync(world.paths.checkpointPath, { force: true })
              checkpointLost = true
            } else {
              const dir = Path.join(world.paths.ledgerDir, "events")
              const segment = NodeFs.readdirSync(dir).filter((f) => f.endsWith(".jsonl")).sort().at(-1) ?? assert.fail("no segment")
              NodeFs.appendFileSync(Path.join(dir, segment), "{\"v\":1,\"seq\":999999,\"id\":\"torn")
              appended = 1 // LogTailRepaired
            }
            session = yield* openSession(world.paths)
            appended += pendingAdoptions(model)
            adoptAll(model)
          } else if (step._tag === "EditSource") {
            const dir = sourceDir(world, spec(step.plugin))
            edits += 1
            writeFile(Path.join(dir, "data", "version.txt"), `v${edits}\n`)
            const extra = Path.join(dir, "extra")
            if (NodeFs.existsSync(extra)) NodeFs.rmSync(extra, { recursive: true })
            else writeFile(Path.join(extra, `edit-${edits}.txt`), `edit ${edits}\n`, 0o600)
          } else if (step._tag === "HandEdit") {
            stats.handEdits += 1
            handWritten = true
            const p = spec(step.plugin)
            const current = model[step.plugin] ?? notInstalled
            const text = readConfigText()
            if (step.kind === "comment") {
              notes += 1
              // at the top: the rest of the file keeps its bytes (final newline or not)
              NodeFs.writeFileSync(world.paths.configPath, `# hand note ${notes}${text.includes("\r\n") ? "\r\n" : "\n"}${text}`)
            } else {
              // the user's edit, made with the same byte-preserving editor (so a replay can reproduce its bytes):
              // enabled table -> disabled, disabled table -> removed, no table -> enabled table
              const file: TableModel = !current.file.configured
                ? { configured: true, enabled: true }
                : current.file.enabled
                ? { configured: true, enabled: false }
                : noTable
              const next = file.configured
                ? edited(setPluginEnabled(text, idOf(p), file.enabled), where)
                : edited(removePluginTable(text, idOf(p)), where)
              NodeFs.writeFileSync(world.paths.configPath, next)
              // removed and added again before the ledger looked: the adoption records the values, not that the
              // table moved to the end of the file, so a replay has the same tables in another order (README)
              if (!sameTable(current.file, current.logged)) layoutMoved = true
              model[step.plugin] = { ...current, file }
              // several edits adopted at once are recorded removed tables first, then in file order, which need not
              // be the order they were made in: removing the first table after adding one at the end leaves a blank
              // line at the top that a replay (removal first) does not write. Same values, another layout (README)
              const pending = model.filter((m) => !sameTable(m.file, m.logged))
              if (pending.length > 1 && pending.some((m) => m.logged.configured && !m.file.configured)) layoutMoved = true
            }
            if (step.adoptNow) {
              const adopted = yield* session.engine.adoptConfigEdits
              appended = pendingAdoptions(model)
              assert.strictEqual(adopted.length, appended, `${where}: adopted events`)
              assert.isTrue(adopted.every((e) => e.type === "PluginStateChangedExternally" && e.cause?.actor === "config-edit"), where)
              adoptAll(model)
              stats.adoptions += appended
            }
          } else if (step._tag === "RemoteSync") {
            stats.remoteSyncs += 1
            const body = RESPONSES[step.response] ?? "[]"
            const pending = pendingAdoptions(model)
            const fetch: typeof globalThis.fetch = () => Promise.resolve(new Response(body, { status: 200 }))
            const view = yield* session.engine.syncRemote().pipe(
              Effect.provideService(RemoteClientSettings, { fetch, timeoutMs: 5_000, maxBodyBytes: 1 << 20, userAgent: "model" })
            )
            adoptAll(model)
            const listed = enabledIn(body)
            let caused = 0
            if (listed === undefined) {
              assert.match(view.error ?? "", /^failed to parse remote plugin sync response from /, where)
            } else {
              assert.strictEqual(view.error, null, where)
              // 0.116.0: listed and enabled -> installed (at the sha) and enabled; anything else installed or configured -> uninstalled
              PLUGINS.forEach((p, index) => {
                if (p.root !== 2) return
                const current = model[index] ?? notInstalled
                const on = { configured: true, enabled: true }
                if (listed.has(p.name)) {
                  if (!current.cache) {
                    model[index] = { cache: true, file: on, logged: on, tree: listTree(sourceDir(world, p)) }
                    caused += 1
                  } else if (!(current.file.configured && current.file.enabled)) {
                    model[index] = { ...current, file: on, logged: on }
                    caused += 1
                  }
                } else if (current.cache || current.file.configured) {
                  model[index] = notInstalled
                  caused += 1
                }
              })
            }
            appended = pending + 1 + caused
          } else if (step._tag === "Tamper") {
            const p = spec(step.plugin)
            const current = model[step.plugin] ?? notInstalled
            if (current.cache) {
              stats.tampers += 1
              const version = versionOf(p)
              const root = Path.join(world.paths.cacheDir, p.marketplace, p.name, version)
              const problem: TreeProblemView = step.kind === "modify"
                ? { path: `${version}/data/version.txt`, kind: "modified" }
                : step.kind === "delete"
                ? { path: `${version}/bin/run`, kind: "missing" }
                : { path: `${version}/dropped.txt`, kind: "extra" }
              if (step.kind === "modify") NodeFs.writeFileSync(Path.join(root, "data", "version.txt"), "tampered\n")
              else if (step.kind === "delete") NodeFs.rmSync(Path.join(root, "bin", "run"))
              else NodeFs.writeFileSync(Path.join(root, "dropped.txt"), "dropped\n")
              const found = yield* session.engine.verify({ repair: false }, originFor(undefined))
              assert.deepStrictEqual(
                found.plugins.filter((v) => v.problems.length > 0).map((v) => [v.pluginId, v.problems]),
                [[idOf(p), [problem]]],
                `${where}: verify finds exactly the tampered path`
              )
              assert.strictEqual(countRecords(world.paths), records, `${where}: verify alone records nothing`)
              const repaired = yield* session.engine.verify({ repair: true }, originFor(undefined))
              assert.isTrue(repaired.plugins.every((v) => v.ok), `${where}: repaired`)
              appended = 1
              stats.repairs += 1
            }
          } else {
            const p = spec(step.plugin)
            const origin = originFor(step.key)
            const eventType = EVENT_OF[step._tag]
            const used = step.key === undefined ? undefined : usedKeys.get(step.key)
            // a key reused for the same command replays it; for another command it is refused
            const replayOf = used !== undefined && used.type === eventType && used.pluginId === idOf(p) ? used.seq : undefined
            const current = model[step.plugin] ?? notInstalled
            /** adoptions the command's transaction appends before its own events, when it gets that far */
            const pending = pendingAdoptions(model)
            if (used !== undefined && replayOf === undefined) {
              const result = yield* Effect.result(
                step._tag === "Install"
                  ? Effect.asVoid(session.engine.install({ marketplacePath: marketplaceFile(world.roots[p.root]), pluginName: p.name }, origin))
                  : step._tag === "Uninstall"
                  ? Effect.asVoid(session.engine.uninstall({ pluginId: idOf(p) }, origin))
                  : Effect.asVoid(session.engine.setEnabled({ pluginId: idOf(p), enabled: step._tag === "Enable" }, origin))
              )
              if (Result.isSuccess(result)) return assert.fail(`${where}: a key reused for another command was accepted`)
              assert.strictEqual(result.failure.kind, "InvalidRequest", where)
              assert.strictEqual(result.failure.message, `idempotency key \`${step.key}\` was already used for a different command`, where)
              stats.keyConflicts += 1
            } else switch (step._tag) {
              case "Install": {
                const view = yield* session.engine.install(
                  { marketplacePath: marketplaceFile(world.roots[p.root]), pluginName: p.name },
                  origin
                )
                assert.deepStrictEqual(view, { authPolicy: "ON_INSTALL", appsNeedingAuth: [] }, where)
                if (replayOf === undefined) {
                  adoptAll(model)
                  const table = { configured: true, enabled: true }
                  model[step.plugin] = { cache: true, file: table, logged: table, tree: listTree(sourceDir(world, p)) }
                  appended = pending + 1
                }
                break
              }
              case "Enable":
              case "Disable": {
                const enabled = step._tag === "Enable"
                const result = yield* Effect.result(session.engine.setEnabled({ pluginId: idOf(p), enabled }, origin))
                if (replayOf !== undefined) {
                  // a retry: the recorded outcome, nothing new
                  if (Result.isFailure(result)) return assert.fail(`${where}: unexpected ${result.failure.message}`)
                  assert.deepStrictEqual(result.success, { pluginId: idOf(p), enabled, changed: true, seq: replayOf }, where)
                } else if (!current.cache && !current.file.configured) {
                  // refused: nothing appended, not even the adoptions (the transaction as a whole fails)
                  assert.isTrue(Result.isFailure(result), `${where}: expected a rejection`)
                  if (Result.isFailure(result)) {
                    assert.strictEqual(result.failure.kind, "InvalidRequest", where)
                    assert.strictEqual(result.failure.message, `plugin \`${idOf(p)}\` is not installed`, where)
                  }
                } else {
                  if (Result.isFailure(result)) return assert.fail(`${where}: unexpected ${result.failure.message}`)
                  // what Codex reads as enabled: a table saying `enabled = true`; no table counts as disabled
                  const changed = (current.file.configured && current.file.enabled) !== enabled
                  assert.deepStrictEqual(
                    result.success,
                    { pluginId: idOf(p), enabled, changed, seq: changed ? records + pending + 1 : null },
                    where
                  )
                  adoptAll(model)
                  const table = changed ? { configured: true, enabled } : current.file
                  model[step.plugin] = { ...current, file: table, logged: table }
                  appended = pending + (changed ? 1 : 0)
                }
                break
              }
              case "Uninstall": {
                assert.deepStrictEqual(yield* session.engine.uninstall({ pluginId: idOf(p) }, origin), {}, where)
                if (replayOf === undefined) {
                  adoptAll(model)
                  appended = pending + (current.cache || current.file.configured ? 1 : 0)
                  model[step.plugin] = notInstalled
                }
                break
              }
            }
            if (replayOf !== undefined) stats.keyedReplays += 1
            if (step.key !== undefined && used === undefined && appended > pending) {
              usedKeys.set(step.key, { type: eventType, pluginId: idOf(p), seq: records + appended })
            }
          }

          // the log grew by exactly what the model expects
          const now = countRecords(world.paths)
          assert.strictEqual(now - records, appended, `${where}: events appended`)
          records = now
          stats.steps += 1
          stats.events += appended

          // (a) the live projection equals a fresh replay of the log (a pending hand edit is not in the log yet)
          const live = projectionOf(world.paths)
          if (pendingAdoptions(model) === 0) {
            const replayed = yield* freshReplay(world, n)
            assert.strictEqual(replayed.appended, 0, `${where}: the replay found config.toml differing from its own log`)
            // notes only in a file the replay never created: the same as no file
            const liveConfig = notes > 0 && withoutNotes(live.config) === "" && replayed.config === undefined ? undefined : withoutNotes(live.config)
            if (checkpointLost || layoutMoved) {
              assert.deepStrictEqual(tablesOf(replayed.config), tablesOf(liveConfig), `${where}: config.toml tables differ from a fresh replay`)
            } else {
              assert.deepStrictEqual(replayed.config, liveConfig, `${where}: config.toml differs from a fresh replay`)
            }
            if (!handWritten) assert.deepStrictEqual(replayed.configMode, live.configMode, `${where}: config.toml mode differs from a fresh replay`)
            assert.deepStrictEqual(replayed.cache, live.cache, `${where}: plugins/cache differs from a fresh replay`)
          }

          // (b) the state matches the model: the read side, config.toml and the cached trees
          const listed = yield* session.engine.list({ cwds: [...world.roots], forceRemoteSync: false })
          const parsed = parseConfig(live.config ?? "")
          if (Result.isFailure(parsed)) return assert.fail(`${where}: config.toml does not parse: ${parsed.failure.message}`)
          PLUGINS.forEach((p, index) => {
            const expected = model[index] ?? notInstalled
            const summary = listed.marketplaces.find((m) => m.name === p.marketplace)?.plugins.find((s) => s.id === idOf(p))
            assert.deepStrictEqual(
              { installed: summary?.installed, enabled: summary?.enabled },
              {
                installed: expected.cache && expected.file.configured,
                enabled: expected.file.configured && expected.file.enabled && world.config.featuresOn
              },
              `${where}: plugin/list of ${idOf(p)}`
            )
            const entry = parsed.success.plugins.get(idOf(p))
            assert.deepStrictEqual(
              entry === undefined ? undefined : entry.enabled,
              expected.file.configured ? expected.file.enabled : undefined,
              `${where}: config.toml table of ${idOf(p)}`
            )
            const pluginDir = Path.join(world.paths.cacheDir, p.marketplace, p.name)
            if (expected.tree === undefined) assert.isFalse(NodeFs.existsSync(pluginDir), `${where}: ${pluginDir} should be gone`)
            else {
              assert.deepStrictEqual(NodeFs.readdirSync(pluginDir), [versionOf(p)], `${where}: versions of ${idOf(p)}`)
              assert.deepStrictEqual(listTree(Path.join(pluginDir, versionOf(p))), expected.tree, `${where}: cached tree of ${idOf(p)}`)
            }
          })
          // tables of other plugins are never touched
          if (world.config.name === "other-plugins") assert.strictEqual(parsed.success.plugins.get("other@elsewhere")?.enabled, false, where)
          if (world.config.name === "canonical" && notes === 0 && model.every((m) => !m.cache && !m.file.configured)) {
            assert.strictEqual(live.config, CANONICAL_CONFIG, `${where}: config back to the user's bytes`)
          }
        }
      }).pipe(Effect.scoped),
    (world) => Effect.sync(() => NodeFs.rmSync(world.root, { recursive: true, force: true }))
  )

describe("model-based lifecycle", () => {
  it.live(
    `after every step, model == projected state == a fresh replay of the log (${RUNS} runs, <= ${MAX_STEPS} steps)`,
    () =>
      Effect.gen(function*() {
        console.log(`[Lifecycle.model] seed=${SEED} runs=${RUNS} maxSteps=${MAX_STEPS} (re-run: SEED=${SEED})`)
        yield* Effect.promise(() =>
          fc.assert(
            fc.asyncProperty(scenarioArb, (scenario) => Effect.runPromise(runScenario(scenario))),
            {
              numRuns: RUNS,
              seed: SEED,
              ...(PATH === undefined ? {} : { path: PATH }),
              // a failing run shrinks; keep the whole thing bounded (seed + path resume it)
              plugins: [fc.interruptAfterTimeLimit(9 * 60_000, { failOnInterrupt: true })]
            }
          )
        )
        console.log(
          `[Lifecycle.model] ${stats.runs} runs, ${stats.steps} steps, ${stats.replays} fresh replays, ${stats.events} events, ` +
            `${stats.keyedReplays} keyed retries, ${stats.keyConflicts} refused key reuses, ${stats.handEdits} hand edits ` +
            `(${stats.adoptions} adopted on the spot), ${stats.tampers} tampers / ${stats.repairs} repairs, ${stats.crashes} crashes, ${stats.remoteSyncs} remote syncs (tmp: ${TMP_BASE})`
        )
      }),
    10 * 60_000
  )
})
