/**
 * `plugin-ledger process ...` as a user runs it: each command a child process (`node src/cli/main.ts`) on one
 * CODEX_HOME, the SDK's echo plugins (examples/process-plugins) as the registered plugins. Exit codes as in
 * `src/cli/Usage.ts`: 0 success, 1 rejected (by the host or by the plugin), 2 usage error.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { type Run, runMain } from "../support/Processes.ts"

const plugin = (name: string) => Path.resolve("examples/process-plugins", name, `${name}.ts`)

const at = (value: unknown, ...path: ReadonlyArray<string | number>): unknown => {
  let current = value
  for (const key of path) current = typeof current === "object" && current !== null ? Reflect.get(current, key) : undefined
  return current
}

describe("plugin-ledger process", () => {
  it("add, list, call, test, configure, credentials, disable, status, remove: output, --json and exit codes", { timeout: 120_000 }, async () => {
    const root = Fs.realpathSync(Fs.mkdtempSync(Path.join(Os.tmpdir(), "process-cli-")))
    const env: Record<string, string> = {}
    for (const [key, value] of Object.entries(process.env)) if (value !== undefined) env[key] = value
    env["CODEX_HOME"] = Path.join(root, "codex")
    env["HOME"] = root
    env["NODE_COMPILE_CACHE"] = Path.join(Os.tmpdir(), "plugin-ledger-test-compile-cache")
    Fs.mkdirSync(env["CODEX_HOME"])
    const cli = (...args: ReadonlyArray<string>) =>
      runMain(root, env, ["process", ...args])
    const expect = async (code: number, args: ReadonlyArray<string>, text?: string): Promise<Run> => {
      const run = await cli(...args)
      assert.strictEqual(run.code, code, `process ${args.join(" ")}\nstdout: ${run.stdout}\nstderr: ${run.stderr}`)
      if (text !== undefined) assert.include(code === 0 ? run.stdout : run.stderr, text, args.join(" "))
      return run
    }
    try {
      const added = JSON.parse((await expect(0, ["add", "meta", "node", plugin("metadata-echo"), "--json"])).stdout)
      assert.strictEqual(at(added, "changed"), true)
      await expect(0, ["add", "sync", "node", plugin("sync-echo")], "registered process plugin sync")
      await expect(1, ["add", "sh", "bash", "--", "-c", "true"], "not in the plugin allowlist")
      await expect(2, ["add", "nocommand"], "needs <name> <command>")
      await expect(2, ["frob"], "unknown process subcommand")
      await expect(2, ["status"], "needs a plugin name")

      const listed = JSON.parse((await expect(0, ["list", "--json"])).stdout)
      assert.deepStrictEqual((at(listed, "plugins") as ReadonlyArray<unknown>).map((p) => at(p, "name")), ["meta", "sync"])
      const table = (await expect(0, ["list"])).stdout
      assert.match(table, /^NAME\s+ENABLED\s+COMMAND/m)
      assert.match(table, /^meta\s+yes\s/m)

      const found = JSON.parse((await expect(0, ["call", "meta", "metadata/series/search", "--params", "{\"query\":\"dune\"}"])).stdout)
      assert.strictEqual(at(found, "results", 0, "title"), "dune")
      await expect(1, ["call", "meta", "metadata/series/get", "--params", "{\"externalId\":\"missing-1\"}"], "No series missing-1")
      await expect(2, ["call", "meta", "metadata/series/search", "--params", "{not json"], "--params takes JSON")
      await expect(1, ["call", "ghost", "metadata/series/search"], "not registered")
      const timed = JSON.parse((await expect(0, ["call", "meta", "metadata/series/search", "--params", "{\"query\":\"dune\"}", "--timeout", "5"])).stdout)
      assert.strictEqual(at(timed, "results", 0, "title"), "dune")
      await expect(2, ["call", "meta", "metadata/series/search", "--timeout", "0"], "--timeout takes a number of seconds above 0")
      await expect(0, ["test", "meta"], "meta answered initialize (metadata-echo 1.0.0")
      await expect(1, ["test", "ghost"], "not registered")
      await expect(0, ["configure", "meta", "--rate-limit", "100", "--timeout", "0"], "configured meta")
      await expect(2, ["configure", "meta", "--rate-limit", "fast"], "--rate-limit takes a whole number")
      assert.match((await expect(0, ["list"])).stdout, /^meta\s+yes\s+\S+ \S+\s+1\.0\.0\s+30 s\s+100\s/m)

      await expect(2, ["configure", "meta", "--user-config", "{}"], "--user-config needs --user")
      await expect(2, ["configure", "meta", "--admin-config", "[1]"], "takes a JSON object")
      await expect(0, ["configure", "meta", "--admin-config", "{\"failWith\":\"auth\"}"], "configured meta")
      await expect(1, ["call", "meta", "metadata/series/search", "--params", "{\"query\":\"x\"}"])

      await expect(1, ["call", "sync", "sync/getUserInfo", "--user", "bob"], "No access token")
      await expect(2, ["credentials", "sync"], "needs --credential")
      await expect(0, ["credentials", "sync", "--credential", "access_token=tok-CLI-secret"], "keys access_token")
      const user = JSON.parse((await expect(0, ["call", "sync", "sync/getUserInfo", "--user", "bob"])).stdout)
      assert.deepStrictEqual(user, { externalId: "echo-user", username: "bob" })

      await expect(0, ["disable", "sync"], "disabled sync")
      await expect(0, ["disable", "sync"], "sync was already disabled")
      await expect(1, ["call", "sync", "sync/status"], "is disabled")
      const status = JSON.parse((await expect(0, ["status", "sync", "--json"])).stdout)
      assert.strictEqual(at(status, "enabled"), false)
      assert.strictEqual(at(status, "manifest", "name"), "sync-echo")
      assert.deepStrictEqual(at(status, "instances"), [], "a CLI process runs no plugin after it exits")
      await expect(1, ["status", "ghost"], "not registered")
      await expect(0, ["remove", "sync"], "removed sync")
      await expect(1, ["remove", "sync"], "not registered")
      assert.deepStrictEqual(at(JSON.parse((await expect(0, ["list", "--json"])).stdout), "plugins", "length"), 1)
    } finally {
      Fs.rmSync(root, { recursive: true, force: true })
    }
  })
})
