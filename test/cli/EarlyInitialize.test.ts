/**
 * `serve` answers a plain `initialize` before its engine is loaded (src/cli/EarlyInitialize.ts). Shown here with
 * real child processes: the early answer is byte for byte the one the session gives, it does not wait for the
 * engine (the ledger lock is held by the test meanwhile), and a client answered early is notified of a record
 * another process appended before the engine had the log open.
 */
import { afterEach, assert, describe, it } from "@effect/vitest"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { releaseLock, tryAcquireLock } from "../../src/adapters/FileLock.ts"
import { makeNodeLockHost } from "../../src/adapters/LockOwner.ts"
import { nodeFs } from "../../src/adapters/FsPort.ts"
import { openLogFile } from "../../src/adapters/LogFile.ts"
import { seqAtLogMark, takeLogMark } from "../../src/adapters/LogMark.ts"
import { plainInitialize } from "../../src/cli/EarlyInitialize.ts"
import { field, LineClient } from "../support/LineClient.ts"
import { Child, makeSandbox, runCli, type Sandbox } from "../support/Processes.ts"

const cleanups: Array<() => void> = []
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup()
})

const sandbox = (): Sandbox => {
  const made = makeSandbox("early-init-test-")
  cleanups.push(made.remove)
  return made
}

const serve = (box: Sandbox): { readonly child: Child; readonly client: LineClient } => {
  const child = new Child(box, ["serve"])
  cleanups.push(() => child.kill("SIGKILL"))
  return { child, client: new LineClient(child.process.stdout, child.process.stdin, "early") }
}

/** The first line `serve` writes after `lines`; the process is then ended. */
const firstAnswer = async (box: Sandbox, lines: ReadonlyArray<string>): Promise<string> => {
  const { child, client } = serve(box)
  child.process.stdin.write(lines.map((line) => `${line}\n`).join(""))
  const answer = await client.waitUntil(() => client.lines[0], "the first answer")
  child.process.stdin.end()
  await child.exit()
  return answer
}

const INITIALIZE_LINES: ReadonlyArray<string> = [
  `{"id":1,"method":"initialize","params":{"clientInfo":{"name":"codex-vscode","title":null,"version":"1.2.3"}}}`,
  `{"id":"a-string-id","method":"initialize","params":{"clientInfo":{"name":"x","version":"1"}}}`,
  `{"jsonrpc":"2.0","id":7,"method":"initialize","params":{"clientInfo":{"name":"x","title":"X","version":"1"}}}`,
  `{"id":2,"method":"initialize","params":{"clientInfo":{"name":"naïve \\u2028 \\"q\\"","title":null,"version":"0"},"capabilities":{"experimentalApi":true,"optOutNotificationMethods":["a"]}}}\r`,
  `{"id":3,"method":"initialize","params":{"clientInfo":{"name":"x","version":"1"},"capabilities":null}}`,
  // not for the fast path; the session answers them, and must answer alike whichever way they come
  `{"id":9007199254740993,"method":"initialize","params":{"clientInfo":{"name":"x","version":"1"}}}`,
  `{"id":4,"method":"initialize","params":{"clientInfo":{"name":"x","version":"1"},"extra":1}}`,
  `{"id":5,"method":"initialize","params":[{"name":"seq","title":null,"version":"1"},null]}`,
  `{"id":6,"method":"initialize","params":{"clientInfo":{"name":1,"version":"1"}}}`,
  `{"id":8,"method":"initialize"}`,
  `{"id":10,"method":"plugin/list","params":{}}`,
  `{"id":11,"method":"initialize","params":{"clientInfo":{"name":"x","version":"1"}}`
]

describe("plainInitialize", () => {
  it("takes only a plain initialize request; everything else is left to the session", () => {
    const accepted = INITIALIZE_LINES.map((line) => plainInitialize(line.replace(/\r$/, "")) !== undefined)
    assert.deepStrictEqual(accepted, [true, true, true, true, true, false, false, false, false, false, false, false])
    assert.deepStrictEqual(plainInitialize(INITIALIZE_LINES[2] ?? ""), {
      id: 7,
      jsonrpc: true,
      client: { name: "x", title: "X", version: "1" }
    })
    assert.isUndefined(plainInitialize(`{"id":1,"method":"initialize","jsonrpc":"1.0","params":{"clientInfo":{"name":"x","version":"1"}}}`))
    assert.isUndefined(plainInitialize(`{"id":1.5,"method":"initialize","params":{"clientInfo":{"name":"x","version":"1"}}}`))
    assert.isUndefined(plainInitialize(`{"id":1,"method":"initialize","params":{"clientInfo":{"name":"x","version":"1","os":"y"}}}`))
  })
})

describe("serve: initialize before the engine", () => {
  it("answers each initialize line exactly as the session does", async () => {
    const box = sandbox()
    for (const line of INITIALIZE_LINES) {
      const early = await firstAnswer(box, [line])
      // a blank first line is no plain initialize: the session gets both lines and answers the request itself
      const bySession = await firstAnswer(box, ["", line])
      assert.strictEqual(early, bySession, line)
    }
  })

  it("answers initialize while the engine cannot start, and notifies what another process appended meanwhile", async () => {
    const box = sandbox()
    const installed = await runCli(box, "install", "hello-skills", "--marketplace", box.marketplaceFile)
    assert.strictEqual(installed.code, 0, installed.stderr)
    // the engine's start-up opens the log under the ledger lock: held here, it cannot start
    const lock = tryAcquireLock(nodeFs, box.ledgerDir, makeNodeLockHost())
    if (lock._tag !== "Acquired") return assert.fail(`could not take the ledger lock: ${JSON.stringify(lock)}`)
    const { child, client } = serve(box)
    const answer = await client.request("initialize", { clientInfo: { name: "early", title: null, version: "1" } })
    assert.strictEqual(field(answer, "result", "platformFamily"), "unix")

    // another process (this one, holding the lock) appends after the answer, before the engine has the log open
    const log = openLogFile({ fs: nodeFs, ledgerDir: box.ledgerDir, nowMs: () => Date.now() })
    const [appended] = log.append([{
      id: "early-init-test:0",
      ts: new Date().toISOString(),
      type: "PluginDisabled",
      data: { pluginId: "hello-skills@ledger-samples", cause: { actor: "cli", client: "another-process" } }
    }])
    assert.isTrue(releaseLock(nodeFs, lock.lock))

    const notified = await client.waitUntil(
      () => client.messages.find((m) => field(m, "method") === "plugin/changed" && field(m, "params", "seq") === appended?.seq),
      "plugin/changed for the record appended before the engine started"
    )
    assert.strictEqual(field(notified, "params", "event", "type"), "PluginDisabled")
    assert.strictEqual(field(notified, "params", "cause", "client"), "another-process")
    // the engine is up and projected it: the plugin is listed disabled
    const listed = await client.call("plugin/list", { cwds: [box.workspace] })
    const plugins = field(listed, "marketplaces", "0", "plugins")
    assert.isTrue(Array.isArray(plugins) && plugins.some((p) => field(p, "id") === "hello-skills@ledger-samples" && field(p, "enabled") === false))
    child.process.stdin.end()
    assert.deepStrictEqual(await child.exit(), { code: 0, signal: null })
  })

  it("notifies a client that sends nothing after initialize of what another process appends later", async () => {
    const box = sandbox()
    const { child, client } = serve(box)
    await client.request("initialize", { clientInfo: { name: "quiet", title: null, version: "1" } })
    // the engine's start-up records the log's creation: once that is notified, the engine is up
    await client.waitUntil(
      () => client.messages.find((m) => field(m, "method") === "plugin/changed" && field(m, "params", "event", "type") === "LogCreated"),
      "plugin/changed for the log's creation"
    )
    // no request comes, so the deferred start-up work (the log directory's watch) runs once the client is quiet
    const installed = await runCli(box, "install", "hello-skills", "--marketplace", box.marketplaceFile)
    assert.strictEqual(installed.code, 0, installed.stderr)
    const notified = await client.waitUntil(
      () => client.messages.find((m) => field(m, "method") === "plugin/changed" && field(m, "params", "event", "type") === "PluginInstalled"),
      "plugin/changed for the install by another process"
    )
    assert.strictEqual(field(notified, "params", "pluginId"), "hello-skills@ledger-samples")
    child.process.stdin.end()
    assert.deepStrictEqual(await child.exit(), { code: 0, signal: null })
  })
})

describe("LogMark", () => {
  it("counts the records wholly inside the mark; a torn line is none", async () => {
    const box = sandbox()
    assert.deepStrictEqual(takeLogMark(box.ledgerDir), { size: 0 })
    assert.strictEqual(seqAtLogMark(box.ledgerDir, takeLogMark(box.ledgerDir)), 0)
    const installed = await runCli(box, "install", "hello-skills", "--marketplace", box.marketplaceFile)
    assert.strictEqual(installed.code, 0, installed.stderr)
    const mark = takeLogMark(box.ledgerDir)
    const records = openLogFile({ fs: nodeFs, ledgerDir: box.ledgerDir, nowMs: () => Date.now() }).records()
    assert.strictEqual(seqAtLogMark(box.ledgerDir, mark), records.at(-1)?.seq)
    // a half-written record after the mark's end, and a mark that ends inside it
    const segment = Path.join(box.ledgerDir, "events", mark.segment ?? "")
    Fs.appendFileSync(segment, "{\"v\":1,\"seq\":")
    assert.strictEqual(seqAtLogMark(box.ledgerDir, takeLogMark(box.ledgerDir)), records.at(-1)?.seq)
    assert.strictEqual(seqAtLogMark(box.ledgerDir, { segment: mark.segment ?? "", size: mark.size - 1 }), (records.at(-1)?.seq ?? 0) - 1)
  })
})
