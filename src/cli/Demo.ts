/**
 * `plugin-ledger demo`: the main job on an embedded default. Copies the sample marketplace shipped in
 * `examples/` into a fresh temporary workspace, then installs, disables, re-enables and uninstalls
 * plugins through the same Engine `serve` uses, printing each step, the resulting config.toml and the
 * event history with causes.
 */
import { Effect } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { makeLedgerPaths } from "../services/LedgerPaths.ts"
import { appLayer } from "./AppLayer.ts"
import { Engine } from "../services/EngineApi.ts"
import { runCommand } from "./Commands.ts"

const sampleMarketplace = fileURLToPath(new URL("../../examples/sample-marketplace", import.meta.url))

export const runDemo = (options: { readonly json: boolean }) =>
  Effect.gen(function*() {
    const root = Fs.mkdtempSync(Path.join(Os.tmpdir(), "plugin-ledger-demo-"))
    const workspace = Path.join(root, "workspace")
    const codexHome = Path.join(root, "codex-home")
    Fs.cpSync(sampleMarketplace, workspace, { recursive: true })
    Fs.mkdirSync(codexHome, { recursive: true })
    Fs.writeFileSync(
      Path.join(codexHome, "config.toml"),
      "# my Codex settings (plugin-ledger edits only [plugins.\"<id>\"] tables)\nmodel = \"gpt-5\"\n\n[features]\nplugins = true\n"
    )
    const paths = makeLedgerPaths({ codexHome, home: root })
    const say = (line: string) => Effect.sync(() => process.stdout.write(`${line}\n`))
    const step = (title: string, command: string, args: ReadonlyArray<string>, extra: { readonly marketplace?: string; readonly repair?: boolean } = {}) =>
      Effect.gen(function*() {
        yield* say(`\n$ plugin-ledger ${[command, ...args].join(" ")}${extra.repair === true ? " --repair" : ""}${extra.marketplace === undefined ? "" : ` --marketplace ${extra.marketplace}`}   # ${title}`)
        const out = yield* runCommand(command, args, {
          cwds: [workspace],
          marketplace: extra.marketplace,
          limit: undefined,
          since: undefined,
          until: undefined,
          actor: undefined,
          repair: extra.repair === true,
          requestId: undefined,
          json: options.json,
          remote: false,
          curated: false,
          repo: undefined
        })
        yield* say(out)
      })
    yield* say(`demo workspace: ${root}\nCODEX_HOME=${codexHome}`)
    yield* Effect.gen(function*() {
      yield* step("what the sample marketplace offers", "list", [])
      yield* step("install by id, marketplace discovered from the workspace", "install", ["hello-skills@ledger-samples"])
      yield* step("install from an explicit marketplace root", "install", ["notes-mcp"], { marketplace: workspace })
      yield* step("disable: flips enabled in config.toml", "disable", ["hello-skills@ledger-samples"])
      yield* step("enable it again", "enable", ["hello-skills@ledger-samples"])
      yield* step("uninstall: removes the cache and the config table", "uninstall", ["notes-mcp@ledger-samples"])
      yield* step("state now", "list", [])
      // a hand edit, as the documented way to switch a plugin off; the daemon's watcher adopts it the same way
      const configPath = Path.join(codexHome, "config.toml")
      yield* say(`\n$ sed -i 's/enabled = true/enabled = false/' ${configPath}   # switch it off by hand`)
      yield* Effect.sync(() => Fs.writeFileSync(configPath, Fs.readFileSync(configPath, "utf8").replace("enabled = true", "enabled = false")))
      const adopted = yield* Engine.use((engine) => engine.adoptConfigEdits)
      yield* say(`(the ledger adopted ${adopted.length} hand edit(s) as PluginStateChangedExternally)`)
      yield* step("why is it in this state?", "why", ["hello-skills@ledger-samples"])
      // tamper with the cache, then let verify find and restore it from the blob store
      const manifest = Path.join(codexHome, "plugins", "cache", "ledger-samples", "hello-skills", "local", ".codex-plugin", "plugin.json")
      yield* say(`\n$ echo tampered > ${manifest}`)
      yield* Effect.sync(() => Fs.writeFileSync(manifest, "tampered\n"))
      yield* step("find and restore the tampered cache", "verify", [], { repair: true })
      yield* step("the whole timeline", "history", [])
    }).pipe(Effect.provide(appLayer(paths)))
    yield* say(`\n--- ${Path.join(codexHome, "config.toml")} ---\n${Fs.readFileSync(Path.join(codexHome, "config.toml"), "utf8")}`)
  })
