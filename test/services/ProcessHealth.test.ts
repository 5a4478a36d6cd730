/**
 * The ping health check against a real child (test/fixtures/process-plugins/raw-plugin.mjs) with a short
 * interval: a plugin that answers its pings keeps running; one that stops answering them (while still answering
 * calls) is shut down and killed once a ping times out, and the next call starts a fresh process.
 */
import * as NodeFs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { KEY_ENV } from "../../src/adapters/CredentialCipher.ts"
import { processLayer } from "../../src/cli/ProcessLayer.ts"
import type { Origin } from "../../src/services/EngineApi.ts"
import { makeLedgerPaths } from "../../src/services/LedgerPaths.ts"
import { ProcessHost } from "../../src/services/ProcessHost.ts"

const FIXTURE = Path.resolve(import.meta.dirname, "../fixtures/process-plugins/raw-plugin.mjs")
const origin: Origin = { actor: "cli", client: "test" }
const HEALTH_MS = 100

const Got = Schema.Struct({ pid: Schema.Number })

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describe("ProcessHost health check", () => {
  it.live("a plugin that stops answering pings is stopped and killed; the next call restarts it", () => {
    const root = NodeFs.mkdtempSync(Path.join(Os.tmpdir(), "process-health-"))
    const paths = makeLedgerPaths({ codexHome: Path.join(root, "codex"), home: root })
    const options = {
      graceMs: 300,
      healthIntervalMs: HEALTH_MS,
      backoffBaseMs: 50,
      env: { PATH: process.env["PATH"] ?? "", [KEY_ENV]: Buffer.alloc(32, 7).toString("base64") }
    }
    return Effect.gen(function*() {
      const host = yield* ProcessHost
      // the ping timeout is the plugin's call timeout (capped at 10 s): 1 s here
      yield* host.add({ name: "echo", command: "node", args: [FIXTURE, "echo"], env: {}, cwd: null, timeoutSeconds: 1 }, origin)
      const pidOf = Effect.map(
        host.call({ name: "echo", method: "metadata/series/get", params: { externalId: "x" } }),
        (got) => Schema.decodeUnknownSync(Got)(got).pid
      )
      const first = yield* pidOf
      // several intervals of answered pings: the same process, still running
      yield* Effect.sleep(HEALTH_MS * 5)
      assert.deepStrictEqual((yield* host.status({ name: "echo" })).instances.map((i) => [i.pid, i.running]), [[first, true]])
      assert.strictEqual(yield* pidOf, first)

      yield* host.call({ name: "echo", method: "metadata/series/search", params: { query: "deaf" } })
      // interval + ping timeout + grace, with room for a loaded machine
      let instances = (yield* host.status({ name: "echo" })).instances.length
      for (let waited = 0; instances > 0 && waited < 10_000; waited += 50) {
        yield* Effect.sleep(50)
        instances = (yield* host.status({ name: "echo" })).instances.length
      }
      assert.strictEqual(instances, 0, "the unhealthy instance is dropped")
      for (let waited = 0; isAlive(first) && waited < 5_000; waited += 50) yield* Effect.sleep(50)
      assert.isFalse(isAlive(first), "its process is gone (shutdown answered, or killed after the grace period)")

      const second = yield* pidOf
      assert.notStrictEqual(second, first)
      assert.isTrue(isAlive(second))
      // a health-check stop is not a spawn/initialize failure: nothing counts towards the auto-disable
      const [view] = yield* host.list
      assert.strictEqual(view?.recentFailures, 0)
      assert.isTrue(view?.enabled)
    }).pipe(
      Effect.provide(processLayer(paths, options)),
      Effect.scoped,
      Effect.ensuring(Effect.sync(() => NodeFs.rmSync(root, { recursive: true, force: true })))
    )
  }, 30_000)
})
