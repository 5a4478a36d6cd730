/**
 * The config.toml watcher in a real `plugin-ledger serve` process: a hand edit while the server runs is adopted
 * (without any request touching the plugin), a comment-only edit is not, an unparsable file is recorded once per
 * distinct content and left byte-identical, and editors that save by rename are seen too.
 */
import * as NodeFs from "node:fs"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { ALPHA, makeWorld, readConfig, readLog, type World } from "../support/LedgerWorld.ts"
import { eventually, startServe } from "../support/ServeClient.ts"

const serveIn = (world: World) => startServe({ codexHome: world.paths.codexHome, home: world.paths.home, cwd: world.root })

const saveByRename = (path: string, text: string): void => {
  const temp = Path.join(Path.dirname(path), ".config.toml.swp")
  NodeFs.writeFileSync(temp, text)
  NodeFs.renameSync(temp, path)
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe("config.toml watcher (serve)", { timeout: 60_000 }, () => {
  it("adopts hand edits while serving; comment-only edits and unparsable files are handled without rewriting", async () => {
    const world = makeWorld()
    const server = await serveIn(world)
    try {
      const installed = await server.request("plugin/install", { marketplacePath: world.marketplacePath, pluginName: "alpha" })
      assert.deepStrictEqual(installed["result"], { authPolicy: "ON_INSTALL", appsNeedingAuth: [] })
      const typesSince = (seq: number) => readLog(world).filter((r) => r.seq > seq).map((r) => r.type)
      const head = readLog(world).at(-1)?.seq ?? 0

      // a hand edit by an editor that writes a temp file and renames it over config.toml
      const edited = readConfig(world).replace("enabled = true", "enabled = false")
      saveByRename(world.paths.configPath, edited)
      const adopted = await eventually(async () => {
        const log = readLog(world)
        return log.at(-1)?.type === "PluginStateChangedExternally" ? log.at(-1) : undefined
      }, 10_000, "the hand edit to be adopted")
      assert.deepStrictEqual(adopted.data["after"], { configured: true, enabled: false })
      assert.deepStrictEqual(adopted.data["cause"], { actor: "config-edit" })
      const history = await server.request("plugin/history", { actor: "config-edit" })
      const events: unknown = Reflect.get(Object(history["result"]), "events")
      assert.deepStrictEqual(Array.isArray(events) ? events.map((e: unknown) => Reflect.get(Object(e), "pluginId")) : events, [ALPHA])
      assert.strictEqual(readConfig(world), edited)

      // comment-only: no event (give the watcher time to have looked)
      NodeFs.writeFileSync(world.paths.configPath, `${edited}# just a comment\n`)
      await sleep(600)
      assert.deepStrictEqual(typesSince(head), ["PluginStateChangedExternally"])

      // unparsable: one ConfigUnreadable for this content, even when written twice; never rewritten
      const broken = `${edited}[broken\n`
      NodeFs.writeFileSync(world.paths.configPath, broken)
      await eventually(async () => (typesSince(head).includes("ConfigUnreadable") ? true : undefined), 10_000, "ConfigUnreadable")
      NodeFs.writeFileSync(world.paths.configPath, broken)
      await sleep(600)
      assert.deepStrictEqual(typesSince(head), ["PluginStateChangedExternally", "ConfigUnreadable"])
      assert.strictEqual(readConfig(world), broken, "byte-identical")
      assert.strictEqual(server.notifications.filter((n) => !("method" in n)).length, 0, "only protocol on stdout")
    } finally {
      const code = await server.close()
      assert.strictEqual(code, 0, server.stderr())
      NodeFs.rmSync(world.root, { recursive: true, force: true })
    }
  })
})
