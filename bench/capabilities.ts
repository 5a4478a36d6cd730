/**
 * `npm run bench:capabilities`: the capability answer for 200 installed, enabled plugins (each with a skill, an MCP
 * server and an app), computed by the service the daemon uses. Cold: the first answer (every bundle read from
 * the cache). Warm: repeated answers for an unchanged log (bundles memoized per plugin until an event touches it;
 * the log folded, config.toml read and the answer derived each time). Goal: warm <= 20 ms.
 */
import { Effect } from "effect"
import * as NodeFs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { daemonLayer } from "../src/cli/DaemonLayer.ts"
import { CapabilitiesService } from "../src/services/Capabilities.ts"
import { Engine } from "../src/services/EngineApi.ts"
import { makeLedgerPaths } from "../src/services/LedgerPaths.ts"

const PLUGINS = Number(process.env["PLUGINS"] ?? 200)
const RUNS = Number(process.env["RUNS"] ?? 50)

const write = (path: string, text: string) => {
  NodeFs.mkdirSync(Path.dirname(path), { recursive: true })
  NodeFs.writeFileSync(path, text)
}

const root = NodeFs.realpathSync(NodeFs.mkdtempSync(Path.join(Os.tmpdir(), "bench-capabilities-")))
const repo = Path.join(root, "repo")
const names = Array.from({ length: PLUGINS }, (_, i) => `plugin-${String(i).padStart(3, "0")}`)
for (const name of names) {
  const dir = Path.join(repo, "plugins", name)
  write(Path.join(dir, ".codex-plugin", "plugin.json"), JSON.stringify({ name, description: `the ${name} plugin` }))
  write(Path.join(dir, "skills", "work", "SKILL.md"), `---\nname: work\ndescription: does ${name} work\n---\nBody.\n`)
  write(Path.join(dir, ".mcp.json"), JSON.stringify({ mcpServers: { [`${name}-mcp`]: { command: "serve", args: ["--stdio"], cwd: "./bin" } } }))
  write(Path.join(dir, ".app.json"), JSON.stringify({ apps: { a: { id: `connector_${name}` } } }))
}
const marketplacePath = Path.join(repo, ".agents", "plugins", "marketplace.json")
write(marketplacePath, JSON.stringify({ name: "bench", plugins: names.map((name) => ({ name, source: { source: "local", path: `./plugins/${name}` } })) }))
const paths = makeLedgerPaths({ codexHome: Path.join(root, "codex-home"), home: Path.join(root, "home") })
NodeFs.mkdirSync(paths.home, { recursive: true })
write(paths.configPath, "[features]\nplugins = true\n")

const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN
const p95 = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.95)] ?? NaN

const program = Effect.gen(function*() {
  const engine = yield* Engine
  for (const pluginName of names) yield* engine.install({ marketplacePath, pluginName }, { actor: "cli" })
  const service = yield* CapabilitiesService
  let t = performance.now()
  const first = yield* service.current
  const cold = performance.now() - t
  const warm: Array<number> = []
  for (let i = 0; i < RUNS; i++) {
    t = performance.now()
    yield* service.current
    warm.push(performance.now() - t)
  }
  console.log(`plugins: ${first.summaries.length} contributing, skills ${first.skills.length}, MCP servers ${first.mcpServers.length}, apps ${first.apps.length}`)
  console.log(`cold (first answer): ${cold.toFixed(1)} ms`)
  console.log(`warm: median ${median(warm).toFixed(2)} ms, p95 ${p95(warm).toFixed(2)} ms over ${RUNS} runs (goal <= 20 ms: ${median(warm) <= 20 ? "met" : "not met"})`)
})

try {
  await Effect.runPromise(program.pipe(Effect.provide(daemonLayer(paths)), Effect.scoped))
} finally {
  NodeFs.rmSync(root, { recursive: true, force: true })
}
