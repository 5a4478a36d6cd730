/**
 * The `plugin-ledger` command as a user runs it: `node src/cli/main.ts …` in a child process, with its own
 * CODEX_HOME and HOME per test and a copy of the sample marketplace as the workspace. Exit codes as in
 * `src/cli/Usage.ts`: 0 success, 1 rejected request, 2 usage error, 3 internal error.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { type Run, runMain } from "../support/Processes.ts"
import { usage } from "../../src/cli/Usage.ts"
import { snapshotTree } from "../support/Trees.ts"

const SAMPLE = Path.resolve("examples/sample-marketplace")
const CONFIG = "# my settings\nmodel = \"gpt-5\"\n\n[features]\nplugins = true\n"
const HELLO = "hello-skills@ledger-samples"
const NOTES = "notes-mcp@ledger-samples"
/** Node's code cache for the children: every command is a fresh process, so this halves their start-up CPU. */
const COMPILE_CACHE = Path.join(Os.tmpdir(), "plugin-ledger-test-compile-cache")

interface Sandbox {
  readonly root: string
  readonly home: string
  readonly workspace: string
  readonly marketplaceFile: string
  readonly cli: (...args: ReadonlyArray<string>) => Promise<Run>
}

const makeSandbox = (options: { readonly config?: boolean } = {}): Sandbox => {
  const root = Fs.realpathSync(Fs.mkdtempSync(Path.join(Os.tmpdir(), "cli-test-")))
  const home = Path.join(root, "codex-home")
  const workspace = Path.join(root, "workspace")
  Fs.cpSync(SAMPLE, workspace, { recursive: true })
  Fs.mkdirSync(home)
  Fs.mkdirSync(Path.join(root, "userhome"))
  if (options.config !== false) Fs.writeFileSync(Path.join(home, "config.toml"), CONFIG)
  const env: Record<string, string> = {}
  for (const [key, value] of Object.entries(process.env)) if (value !== undefined) env[key] = value
  env["CODEX_HOME"] = home
  env["HOME"] = Path.join(root, "userhome")
  env["NODE_COMPILE_CACHE"] = COMPILE_CACHE
  const cli = (...args: ReadonlyArray<string>) =>
    runMain(root, env, args)
  return { root, home, workspace, marketplaceFile: Path.join(workspace, ".agents/plugins/marketplace.json"), cli }
}

const withSandbox = async (body: (sandbox: Sandbox) => Promise<void>, options: { readonly config?: boolean } = {}) => {
  const sandbox = makeSandbox(options)
  try {
    await body(sandbox)
  } finally {
    Fs.rmSync(sandbox.root, { recursive: true, force: true })
  }
}

const assertExit = (run: Run, code: number, label: string): void => {
  assert.strictEqual(run.code, code, `${label}\nstdout: ${run.stdout}\nstderr: ${run.stderr}`)
}

/** Exit 0, a JSON document on stdout. */
const json = (run: Run, label: string): unknown => {
  assertExit(run, 0, label)
  return JSON.parse(run.stdout)
}

/** A field (or array index) of a parsed value, `undefined` where the path does not exist. */
const at = (value: unknown, ...path: ReadonlyArray<string | number>): unknown => {
  let current = value
  for (const key of path) current = typeof current === "object" && current !== null ? Reflect.get(current, key) : undefined
  return current
}

/** A text table as rows of cells (columns are separated by two or more spaces). */
const table = (text: string): ReadonlyArray<ReadonlyArray<string>> =>
  text.trimEnd().split("\n").map((line) => line.split(/ {2,}/))


const config = (sandbox: Sandbox): string => Fs.readFileSync(Path.join(sandbox.home, "config.toml"), "utf8")
const cacheDir = (sandbox: Sandbox, plugin: string) => Path.join(sandbox.home, "plugins/cache/ledger-samples", plugin, "local")

// every command is a fresh Node process (~0.3 s of CPU each); on a loaded machine a chain of eight takes a while
describe.concurrent("plugin-ledger CLI", { timeout: 120_000 }, () => {
  it("--help and -h print the usage and exit 0", () =>
    withSandbox(async ({ cli, home }) => {
      for (const args of [["--help"], ["list", "-h"]]) {
        const run = await cli(...args)
        assertExit(run, 0, args.join(" "))
        assert.strictEqual(run.stdout, usage)
        assert.strictEqual(run.stderr, "")
      }
      assert.include(usage, "2  usage error")
      assert.deepStrictEqual(Fs.readdirSync(home), ["config.toml"])
    }))

  it("usage errors exit 2 with a message on stderr and nothing on stdout", () =>
    withSandbox(async ({ cli }) => {
      const cases: ReadonlyArray<readonly [ReadonlyArray<string>, string]> = [
        [["bogus"], "plugin-ledger: unknown command `bogus` (see plugin-ledger --help)\n"],
        [["list", "--bogus"], "plugin-ledger: Unknown option '--bogus'."],
        [["list", "extra"], "plugin-ledger: unexpected argument: extra\n"],
        [["install"], "plugin-ledger: missing argument: <plugin> (or <plugin>@<marketplace>)\n"],
        [["history", "--limit", "abc"], "plugin-ledger: --limit takes a whole number, got abc\n"]
      ]
      const runs = await Promise.all(cases.map(([args]) => cli(...args)))
      for (const [index, [args, message]] of cases.entries()) {
        const run = runs[index] ?? assert.fail("missing run")
        assertExit(run, 2, args.join(" "))
        assert.strictEqual(run.stdout, "", args.join(" "))
        assert.isTrue(run.stderr.startsWith(message), `${args.join(" ")}: ${run.stderr}`)
      }
    }))

  // the command name is validated before the ledger is opened, so a typo creates nothing
  it("usage errors leave CODEX_HOME untouched", () =>
    withSandbox(async ({ cli, home }) => {
      assertExit(await cli("bogus"), 2, "bogus")
      assert.deepStrictEqual(Fs.readdirSync(home), ["config.toml"])
    }))

  it("list: a table, --json, --cwd discovery and --codex-home", () =>
    withSandbox(async ({ cli, workspace, marketplaceFile, root }) => {
      const text = await cli("list", "--cwd", workspace)
      assertExit(text, 0, "list")
      assert.deepStrictEqual(table(text.stdout), [
        ["PLUGIN", "INSTALLED", "ENABLED", "INSTALL POLICY", "AUTH POLICY", "MARKETPLACE"],
        [HELLO, "no", "no", "AVAILABLE", "ON_USE", marketplaceFile],
        [NOTES, "no", "no", "AVAILABLE", "ON_INSTALL", marketplaceFile],
        ["mail-apps@ledger-samples", "no", "no", "AVAILABLE", "ON_INSTALL", marketplaceFile]
      ])
      const view = json(await cli("list", "--json", "--cwd", workspace), "list --json")
      assert.strictEqual(at(view, "marketplaces", 0, "name"), "ledger-samples")
      assert.strictEqual(at(view, "marketplaces", 0, "path"), marketplaceFile)
      assert.strictEqual(at(view, "marketplaces", 0, "plugins", "length"), 3)
      assert.deepStrictEqual(at(view, "marketplaces", 0, "plugins", 0, "source"), {
        type: "local",
        path: Path.join(workspace, "plugins/hello-skills")
      })
      assert.strictEqual(at(view, "remoteSyncError"), null)
      // without --cwd the process cwd is used (the sandbox root, which has no marketplace)
      const elsewhere = Path.join(root, "other-home")
      const empty = await cli("list", "--codex-home", elsewhere)
      assertExit(empty, 0, "list --codex-home")
      assert.strictEqual(empty.stdout, "no marketplaces found\n")
      assert.isTrue(Fs.existsSync(Path.join(elsewhere, "ledger")), "--codex-home was not used")
    }))

  it("install (by discovery and by --marketplace), disable, enable, uninstall and history", () =>
    withSandbox(async (sandbox) => {
      const { cli, workspace, marketplaceFile } = sandbox
      const byId = await cli("install", HELLO, "--cwd", workspace)
      assertExit(byId, 0, "install by id")
      assert.strictEqual(byId.stdout, `installed hello-skills from ${marketplaceFile} (auth policy ON_USE)\n`)
      assert.isTrue(Fs.existsSync(Path.join(cacheDir(sandbox, "hello-skills"), ".codex-plugin/plugin.json")))
      assert.strictEqual(config(sandbox), `${CONFIG}\n[plugins."${HELLO}"]\nenabled = true\n`)

      const byRoot = json(await cli("install", "notes-mcp", "--marketplace", workspace, "--json"), "install --marketplace root")
      assert.deepStrictEqual(byRoot, { authPolicy: "ON_INSTALL", appsNeedingAuth: [] })
      assert.isTrue(Fs.existsSync(Path.join(cacheDir(sandbox, "notes-mcp"), ".codex-plugin/plugin.json")))
      assert.strictEqual(config(sandbox), `${CONFIG}\n[plugins."${HELLO}"]\nenabled = true\n\n[plugins."${NOTES}"]\nenabled = true\n`)

      const disabled = await cli("disable", HELLO)
      assertExit(disabled, 0, "disable")
      assert.strictEqual(disabled.stdout, `disabled ${HELLO}\n`)
      assert.include(config(sandbox), `[plugins."${HELLO}"]\nenabled = false\n`)
      const again = await cli("disable", HELLO)
      assertExit(again, 0, "disable again")
      assert.strictEqual(again.stdout, `${HELLO} was already disabled\n`)
      const enabled = json(await cli("enable", HELLO, "--json"), "enable --json")
      assert.deepStrictEqual(enabled, { pluginId: HELLO, enabled: true, changed: true, seq: 5 })

      const uninstalled = await cli("uninstall", NOTES)
      assertExit(uninstalled, 0, "uninstall")
      assert.strictEqual(uninstalled.stdout, `uninstalled ${NOTES}\n`)
      assert.isFalse(Fs.existsSync(Path.join(sandbox.home, "plugins/cache/ledger-samples/notes-mcp")))
      assert.notInclude(config(sandbox), NOTES)

      const history = await cli("history")
      assertExit(history, 0, "history")
      const rows = table(history.stdout)
      assert.deepStrictEqual(rows[0], ["SEQ", "TIME", "PLUGIN", "WHAT", "BY"])
      const by = "cli (client=plugin-ledger-cli)"
      assert.deepStrictEqual(rows.slice(1).map((row) => [row[0], row[2], row[3], row[4]]), [
        ["1", "ledger created", "the ledger itself", undefined],
        ["2", HELLO, "installed version local from marketplace ledger-samples", by],
        ["3", NOTES, "installed version local from marketplace ledger-samples", by],
        ["4", HELLO, "disabled", by],
        ["5", HELLO, "enabled", by],
        ["6", NOTES, "uninstalled", by]
      ])
      for (const row of rows.slice(1)) assert.match(row[1] ?? "", /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)

      const last = json(await cli("history", HELLO, "--json", "--limit", "2"), "history <id> --json --limit 2")
      assert.deepStrictEqual(at(last, "events", "length"), 2)
      assert.strictEqual(at(last, "events", 0, "type"), "PluginDisabled")
      assert.strictEqual(at(last, "events", 1, "type"), "PluginEnabled")
      assert.deepStrictEqual(at(last, "events", 1, "cause"), { actor: "cli", client: "plugin-ledger-cli" })
      assert.strictEqual(at(last, "events", 1, "pluginId"), HELLO)
    }))

  it("why, verify (exit 4 on problems, --repair restores) and history filters; hand edits are adopted by the next run", () =>
    withSandbox(async (sandbox) => {
      const { cli, workspace } = sandbox
      assertExit(await cli("install", HELLO, "--cwd", workspace, "--request-id", "first"), 0, "install")
      const configPath = Path.join(sandbox.home, "config.toml")
      Fs.writeFileSync(configPath, config(sandbox).replace("enabled = true", "enabled = false"))

      const why = await cli("why", HELLO)
      assertExit(why, 0, "why")
      const lines = why.stdout.split("\n")
      assert.strictEqual(lines[0], `${HELLO}: installed, disabled (version local)`)
      assert.match(lines[2] ?? "", /^ {2}- installed: installed version local from marketplace ledger-samples by cli \(client=plugin-ledger-cli, request=first\) at .* \(seq 2\)$/)
      assert.match(lines[3] ?? "", /^ {2}- disabled: config.toml edited by hand: enabled true -> false by config-edit at .* \(seq 3\)$/)
      const whyJson = json(await cli("why", HELLO, "--json"), "why --json")
      assert.deepStrictEqual(at(whyJson, "state"), { known: true, installed: true, configured: true, enabled: false, version: "local", lastSeq: 3 })

      const ok = await cli("verify")
      assertExit(ok, 0, "verify clean")
      assert.match(ok.stdout, /^log: ok \(3 records, hash chain verified\)\ncache hello-skills@ledger-samples \(local\): ok\nconfig.toml: agrees with the log\nok\n$/)
      const skill = Path.join(cacheDir(sandbox, "hello-skills"), "skills/greet/SKILL.md")
      const original = Fs.readFileSync(skill)
      Fs.writeFileSync(skill, "tampered")
      const found = await cli("verify")
      assertExit(found, 4, "verify with a tampered cache")
      assert.include(found.stdout, "  - modified local/skills/greet/SKILL.md\n")
      assert.include(found.stdout, "problems found (run with --repair to restore cache trees)")
      assert.strictEqual(found.stderr, "")
      const fixed = json(await cli("verify", "--repair", "--json"), "verify --repair")
      assert.strictEqual(at(fixed, "ok"), true)
      assert.strictEqual(at(fixed, "plugins", 0, "repairedSeq"), 4)
      assert.isTrue(Fs.readFileSync(skill).equals(original))

      const filtered = json(await cli("history", HELLO, "--since", "2", "--actor", "config-edit", "--json"), "history filters")
      assert.deepStrictEqual(at(filtered, "events", "length"), 1)
      assert.strictEqual(at(filtered, "events", 0, "type"), "PluginStateChangedExternally")
      const none = json(await cli("history", "--since", "2999-01-01T00:00:00Z", "--json"), "history --since a time")
      assert.deepStrictEqual(at(none, "events"), [])
      const badSince = await cli("history", "--since", "yesterday")
      assertExit(badSince, 2, "history --since yesterday")
      assert.strictEqual(badSince.stderr, "plugin-ledger: --since takes a seq or an ISO-8601 time, got yesterday\n")
    }))

  it("rejected requests exit 1 with a clear message on stderr and change nothing", () =>
    withSandbox(async (sandbox) => {
      const { cli, workspace } = sandbox
      assertExit(await cli("install", HELLO, "--cwd", workspace), 0, "install")
      const before = snapshotTree(sandbox.home)
      const cases: ReadonlyArray<readonly [ReadonlyArray<string>, string]> = [
        [["enable", "nope@x"], "plugin-ledger: plugin `nope@x` is not installed\n"],
        [["uninstall", "../x"], "plugin-ledger: invalid plugin key `../x`; expected <plugin>@<marketplace>\n"],
        [["install", "nope@ledger-samples", "--cwd", workspace], "plugin-ledger: plugin `nope` was not found in marketplace `ledger-samples`\n"],
        [["install", "hello-skills@elsewhere", "--cwd", workspace], `plugin-ledger: marketplace \`elsewhere\` was not found from ${workspace}\n`],
        [
          ["install", "x", "--marketplace", "/nonexistent"],
          "plugin-ledger: marketplace file `/nonexistent/.agents/plugins/marketplace.json` does not exist\n"
        ]
      ]
      const runs = await Promise.all(cases.map(([args]) => cli(...args)))
      for (const [index, [args, message]] of cases.entries()) {
        const run = runs[index] ?? assert.fail("missing run")
        assertExit(run, 1, args.join(" "))
        assert.strictEqual(run.stdout, "", args.join(" "))
        assert.strictEqual(run.stderr, message, args.join(" "))
      }
      assert.deepStrictEqual(snapshotTree(sandbox.home), before)
    }))

  // Usage.ts documents exit 1 for "unreadable config.toml"; the engine reports it as an internal error (-32603 on
  // the wire, as the reference does), which main.ts maps to 3. Either code is accepted here; see the report.
  it("an unreadable config.toml fails a mutation with a message naming it and leaves the file as it was", () =>
    withSandbox(async (sandbox) => {
      const { cli, workspace } = sandbox
      Fs.writeFileSync(Path.join(sandbox.home, "config.toml"), "this is = = not toml\n")
      const run = await cli("install", HELLO, "--cwd", workspace)
      assert.oneOf(run.code, [1, 3], run.stderr)
      assert.strictEqual(run.stdout, "")
      assert.isTrue(run.stderr.startsWith("plugin-ledger: "), run.stderr)
      assert.include(run.stderr, "config")
      assert.strictEqual(config(sandbox), "this is = = not toml\n")
      assert.isFalse(Fs.existsSync(Path.join(sandbox.home, "plugins")))
    }))

  it("--request-id: repeating a command with the same key applies it once", () =>
    withSandbox(async (sandbox) => {
      const { cli, workspace } = sandbox
      for (const attempt of [1, 2]) {
        const run = await cli("install", HELLO, "--cwd", workspace, "--request-id", "install-1")
        assertExit(run, 0, `install attempt ${attempt}`)
        assert.strictEqual(run.stdout, `installed hello-skills from ${sandbox.marketplaceFile} (auth policy ON_USE)\n`)
      }

      const first = json(await cli("disable", HELLO, "--request-id", "off-1", "--json"), "disable off-1")
      assert.deepStrictEqual(first, { pluginId: HELLO, enabled: false, changed: true, seq: 3 })
      assertExit(await cli("enable", HELLO), 0, "enable")
      // a retry of the disable (same key) answers as the first time and changes nothing
      const retry = json(await cli("disable", HELLO, "--request-id", "off-1", "--json"), "disable off-1 retry")
      assert.deepStrictEqual(retry, first)
      assert.include(config(sandbox), `[plugins."${HELLO}"]\nenabled = true\n`)
      // one install (the retry found its key), one disable, one enable
      const history = json(await cli("history", "--json"), "history")
      const events = at(history, "events")
      assert.deepStrictEqual(Array.isArray(events) ? events.map((e: unknown) => at(e, "type")) : events, [
        "LogCreated",
        "PluginInstalled",
        "PluginDisabled",
        "PluginEnabled"
      ])
      assert.deepStrictEqual(at(history, "events", 1, "cause"), { actor: "cli", requestId: "install-1", client: "plugin-ledger-cli" })
      assert.deepStrictEqual(at(history, "events", 2, "cause"), { actor: "cli", requestId: "off-1", client: "plugin-ledger-cli" })
    }))

  // a key already recorded for another command or plugin is refused (exit 1), never silently replayed
  it("--request-id reused for a different command is not silently swallowed", () =>
    withSandbox(async (sandbox) => {
      const { cli, workspace } = sandbox
      assertExit(await cli("install", HELLO, "--cwd", workspace), 0, "install")
      assertExit(await cli("disable", HELLO, "--request-id", "k1"), 0, "disable k1")
      const reused = await cli("enable", HELLO, "--request-id", "k1")
      assertExit(reused, 1, "enable with a reused key")
      assert.include(reused.stderr, "idempotency key `k1` was already used for a different command")
      assert.include(config(sandbox), `[plugins."${HELLO}"]\nenabled = false\n`)
    }))

  it("demo runs the whole cycle in its own temporary CODEX_HOME and exits 0", () =>
    withSandbox(async ({ cli, home }) => {
      const run = await cli("demo")
      const workspace = /^demo workspace: (.+)$/m.exec(run.stdout)?.[1]
      try {
        assertExit(run, 0, "demo")
        for (const expected of [
          "$ plugin-ledger install hello-skills@ledger-samples",
          "installed hello-skills from ",
          `disabled ${HELLO}`,
          `enabled ${HELLO}`,
          `uninstalled ${NOTES}`,
          "(the ledger adopted 1 hand edit(s) as PluginStateChangedExternally)",
          "disabled: config.toml edited by hand: enabled true -> false by config-edit",
          "1 path(s) differ; restored (seq 8)",
          `[plugins."${HELLO}"]\nenabled = false\n`
        ]) {
          assert.include(run.stdout, expected)
        }
        assert.notInclude(run.stdout, `[plugins."${NOTES}"]`)
        // the user's CODEX_HOME is not used by the demo
        assert.deepStrictEqual(Fs.readdirSync(home), ["config.toml"])
      } finally {
        if (workspace !== undefined && workspace.startsWith(Os.tmpdir())) Fs.rmSync(workspace, { recursive: true, force: true })
      }
    }))
})
