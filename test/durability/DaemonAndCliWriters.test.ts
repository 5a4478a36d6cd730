/**
 * Several processes on one CODEX_HOME at once: a daemon client, a `serve` process and two loops of CLI runs, each
 * writer toggling its own plugin (so every operation is an event), while an observer client of the daemon takes
 * the `plugin/changed` stream. Afterwards: no lost or duplicated event (one record per operation key, each
 * answer's seq is its record's), one total order (the observer saw seq 2..N once each, in order; each writer's
 * operations are in its own order), a log whose chain verifies, and projections that agree with the log
 * (config.toml, the checkpoint, plugin/list).
 *
 * `npm test` runs 4 writers x 10 operations; `npm run test:soak` 4 x 200.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { parse as parseToml } from "smol-toml"
import { EventLog } from "../../src/services/EventLog.ts"
import { field, LineClient } from "../support/LineClient.ts"
import { Child, makeSandbox, readLog, runCli, type Sandbox, startDaemon } from "../support/Processes.ts"
import { scaled } from "../support/Soak.ts"

const OPERATIONS = scaled(10, 200)
const WRITERS = ["daemon", "serve", "cli-a", "cli-b"] as const
type Writer = typeof WRITERS[number]

const pluginOf = (writer: Writer) => `${writer}@crowd`

/** A marketplace `crowd` with one plugin per writer. */
const writeMarketplace = (sandbox: Sandbox): string => {
  const root = Path.join(sandbox.root, "crowd")
  const file = Path.join(root, ".agents", "plugins", "marketplace.json")
  Fs.mkdirSync(Path.dirname(file), { recursive: true })
  Fs.writeFileSync(file, JSON.stringify({
    name: "crowd",
    plugins: WRITERS.map((name) => ({ name, source: { source: "local", path: `./plugins/${name}` } }))
  }))
  for (const name of WRITERS) {
    const manifest = Path.join(root, "plugins", name, ".codex-plugin", "plugin.json")
    Fs.mkdirSync(Path.dirname(manifest), { recursive: true })
    Fs.writeFileSync(manifest, JSON.stringify({ name, interface: { displayName: name } }))
  }
  return file
}

/** Operation n of a writer: disable when n is even (install left the plugin enabled), enable when odd. */
const operation = (writer: Writer, n: number) => ({
  enabled: n % 2 === 1,
  key: `${writer}-${n}`
})

interface Answer {
  readonly key: string
  readonly seq: unknown
  readonly changed: unknown
}

const viaClient = async (client: LineClient, writer: Writer): Promise<ReadonlyArray<Answer>> => {
  const answers: Array<Answer> = []
  for (let n = 0; n < OPERATIONS; n++) {
    const op = operation(writer, n)
    const result = await client.call(op.enabled ? "plugin/enable" : "plugin/disable", { pluginId: pluginOf(writer), idempotencyKey: op.key })
    answers.push({ key: op.key, seq: field(result, "seq"), changed: field(result, "changed") })
  }
  return answers
}

const viaCli = async (sandbox: Sandbox, writer: Writer): Promise<ReadonlyArray<Answer>> => {
  const answers: Array<Answer> = []
  for (let n = 0; n < OPERATIONS; n++) {
    const op = operation(writer, n)
    const run = await runCli(sandbox, op.enabled ? "enable" : "disable", pluginOf(writer), "--request-id", op.key, "--json")
    assert.strictEqual(run.code, 0, `${op.key}: ${run.stderr}`)
    const result: unknown = JSON.parse(run.stdout)
    answers.push({ key: op.key, seq: field(result, "seq"), changed: field(result, "changed") })
  }
  return answers
}

describe("daemon and CLI writers on one CODEX_HOME", () => {
  it(`${WRITERS.length} writers x ${OPERATIONS} operations: no lost or duplicated event, one total order, consistent projections`, async () => {
    const sandbox = makeSandbox("writers-")
    const children: Array<Child> = []
    try {
      const marketplacePath = writeMarketplace(sandbox)
      const daemon = await startDaemon(sandbox)
      children.push(daemon)
      const observer = await LineClient.connect(sandbox.socket, "observer")
      await observer.initialize()
      const writer = await LineClient.connect(sandbox.socket, "daemon-writer")
      await writer.initialize()
      for (const name of WRITERS) await writer.call("plugin/install", { marketplacePath, pluginName: name })
      const serve = new Child(sandbox, ["serve"])
      children.push(serve)
      const serveClient = new LineClient(serve.process.stdout, serve.process.stdin, "serve-writer")
      await serveClient.initialize()

      const answers = await Promise.all([
        viaClient(writer, "daemon"),
        viaClient(serveClient, "serve"),
        viaCli(sandbox, "cli-a"),
        viaCli(sandbox, "cli-b")
      ])

      const expected = 1 + WRITERS.length + WRITERS.length * OPERATIONS
      const records = readLog(sandbox.ledgerDir)
      assert.strictEqual(records.length, expected, "every operation recorded")
      assert.deepStrictEqual(records.map((r) => r["seq"]), Array.from({ length: expected }, (_, i) => i + 1))
      const seqOfKey = new Map<string, unknown>()
      for (const record of records) {
        const id = String(record["id"])
        assert.isFalse(seqOfKey.has(id), `record id ${id} appears twice`)
        seqOfKey.set(id, record["seq"])
      }
      for (const [index, name] of WRITERS.entries()) {
        const own = answers[index] ?? []
        assert.strictEqual(own.length, OPERATIONS)
        let previous = 0
        for (const answer of own) {
          assert.strictEqual(answer.changed, true, `${answer.key} changed the state`)
          assert.strictEqual(answer.seq, seqOfKey.get(`${answer.key}:0`), `${answer.key}: its answer names its record`)
          assert.isTrue(Number(answer.seq) > previous, `${name}'s operations are in its order`)
          previous = Number(answer.seq)
        }
      }

      // one total order, seen whole by a client of the daemon: its own appends and the other processes'
      const notified = await observer.awaitNotifications("plugin/changed", expected - 1, 60_000)
      assert.deepStrictEqual(notified.map((n) => field(n, "params", "seq")), Array.from({ length: expected - 1 }, (_, i) => i + 2))

      // projections: each plugin ends in the state of its last event, everywhere
      const finalEnabled = OPERATIONS % 2 === 0 // an even count of toggles returns to enabled
      const config = parseToml(Fs.readFileSync(Path.join(sandbox.codexHome, "config.toml"), "utf8"))
      for (const name of WRITERS) assert.strictEqual(field(config, "plugins", pluginOf(name), "enabled"), finalEnabled, name)
      const listed = await writer.call("plugin/list", { cwds: [Path.dirname(Path.dirname(Path.dirname(marketplacePath)))] })
      const plugins = field(listed, "marketplaces", "0", "plugins")
      assert.isArray(plugins)
      for (const plugin of Array.isArray(plugins) ? plugins : []) {
        assert.deepStrictEqual([field(plugin, "installed"), field(plugin, "enabled")], [true, finalEnabled], String(field(plugin, "id")))
      }
      const checkpoint: unknown = JSON.parse(Fs.readFileSync(Path.join(sandbox.ledgerDir, "checkpoint.json"), "utf8"))
      assert.strictEqual(field(checkpoint, "seq"), expected)

      for (const client of [observer, writer, serveClient]) client.end()
      daemon.kill("SIGTERM")
      assert.deepStrictEqual(await daemon.exit(), { code: 0, signal: null })
      assert.deepStrictEqual(await serve.exit(), { code: 0, signal: null })
      const verified = await Effect.runPromise(
        EventLog.use((log) => log.verify).pipe(Effect.provide(EventLog.layer({ ledgerDir: sandbox.ledgerDir })))
      )
      assert.deepStrictEqual(verified, { ok: true, records: expected, problems: [] })
    } finally {
      for (const child of children) child.kill("SIGKILL")
      sandbox.remove()
    }
  }, 600_000)
})
