/**
 * What the ProcessHost tests share: a real temp CODEX_HOME, the hand-written fixture plugin
 * (test/fixtures/process-plugins/raw-plugin.mjs), host options fit for tests (short grace and backoff, no pings,
 * an explicit environment holding a daemon secret that must never reach a plugin), and readers of the log file.
 */
import * as NodeFs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { afterAll } from "@effect/vitest"
import { Effect } from "effect"
import { KEY_ENV } from "../../src/adapters/CredentialCipher.ts"
import { processLayer } from "../../src/cli/ProcessLayer.ts"
import type { Origin } from "../../src/services/EngineApi.ts"
import { type LedgerPaths, makeLedgerPaths } from "../../src/services/LedgerPaths.ts"
import { ProcessHost, type ProcessHostOptions } from "../../src/services/ProcessHost.ts"

export const FIXTURE = Path.resolve(import.meta.dirname, "../fixtures/process-plugins/raw-plugin.mjs")
export const origin: Origin = { actor: "cli", client: "test", requestId: "r1" }

const roots: Array<string> = []
// each test stops its host (and the plugins) with its scope; the homes go once the file's tests are done
afterAll(() => {
  for (const root of roots.splice(0)) NodeFs.rmSync(root, { recursive: true, force: true })
})

export const tempHome = (): LedgerPaths => {
  const root = NodeFs.mkdtempSync(Path.join(Os.tmpdir(), "process-host-"))
  roots.push(root)
  return makeLedgerPaths({ codexHome: Path.join(root, "codex"), home: root })
}

export const logText = (paths: LedgerPaths): string =>
  NodeFs.readdirSync(Path.join(paths.ledgerDir, "events")).map((f) => NodeFs.readFileSync(Path.join(paths.ledgerDir, "events", f), "utf8")).join("")

export const logRecords = (paths: LedgerPaths): Array<{ type: string; data: Record<string, unknown> }> =>
  logText(paths).split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l))

export const baseOptions: ProcessHostOptions = {
  graceMs: 500,
  healthIntervalMs: 0,
  backoffBaseMs: 50,
  backoffMaxMs: 400,
  env: { PATH: process.env["PATH"] ?? "", DAEMON_SECRET: "daemon-secret-value", [KEY_ENV]: Buffer.alloc(32, 7).toString("base64") }
}

export const withHost = <A, E>(paths: LedgerPaths, f: (host: ProcessHost["Service"]) => Effect.Effect<A, E>, options: ProcessHostOptions = baseOptions) =>
  Effect.gen(function*() {
    const host = yield* ProcessHost
    return yield* f(host)
  }).pipe(Effect.provide(processLayer(paths, options)), Effect.scoped)

/** Registers the fixture under `name`, started in `mode`. */
export const addFixture = (host: ProcessHost["Service"], name = "echo", mode = "echo", env: Record<string, string> = {}) =>
  host.add({ name, command: "node", args: [FIXTURE, mode], env, cwd: null }, origin)

export const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}
