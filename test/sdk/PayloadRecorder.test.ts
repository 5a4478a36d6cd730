/**
 * The metadata echo plugin's payload recorder, conformance case 80 metadata_echo_recorder: a fixed clock
 * 2026-06-07T08:09:05.123Z writes `2026-06-07-08-09-05-0001-<method>-request.json` and `...-response.json` with the
 * envelope {timestamp, plugin, method, direction, id, config, payload}; `redactConfig` hides secret-looking values.
 * Then the plugin itself, run with `recordPayloads` on, writes its calls into the dataDir the host gives it.
 */
import * as NodeFs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { PayloadRecorder, redactConfig } from "../../examples/process-plugins/metadata-echo/recorder.ts"
import { METADATA_ECHO, PluginWire } from "./PluginWire.ts"

const dirs: Array<string> = []
const tempDir = () => {
  const dir = NodeFs.mkdtempSync(Path.join(Os.tmpdir(), "payload-recorder-"))
  dirs.push(dir)
  return dir
}
afterEach(() => {
  for (const dir of dirs.splice(0)) NodeFs.rmSync(dir, { recursive: true, force: true })
})

const fixedDate = new Date("2026-06-07T08:09:05.123Z")
const quiet = () => {
  const warnings: Array<string> = []
  return { warnings, logger: { warn: (m: string) => void warnings.push(m), debug: () => undefined } }
}

describe("PayloadRecorder", () => {
  it("redactConfig replaces values under secret-looking keys, at any depth, and keeps the rest", () => {
    expect(redactConfig({
      adminConfig: { recordPayloads: true, apiKey: "abc", clientSecret: "xyz" },
      userConfig: { progressUnit: "volumes", access_token: "tok", nested: { password: "p" } }
    })).toEqual({
      adminConfig: { recordPayloads: true, apiKey: "[REDACTED]", clientSecret: "[REDACTED]" },
      userConfig: { progressUnit: "volumes", access_token: "[REDACTED]", nested: { password: "[REDACTED]" } }
    })
    expect(redactConfig({})).toEqual({ adminConfig: {}, userConfig: {} })
  })

  it("writes a request/response pair per call with sortable names and the envelope; ids count up; old files pruned", async () => {
    const dir = tempDir()
    const snapshot = { adminConfig: { maxResults: 5 }, userConfig: {} }
    const recorder = new PayloadRecorder({ pluginName: "metadata-echo", dataDir: dir, configSnapshot: snapshot, logger: quiet().logger, now: () => fixedDate, maxFiles: 4 })
    await recorder.record("metadata/search", { query: "naruto" }, { results: [] })
    const payloads = Path.join(dir, "payloads")
    expect(NodeFs.readdirSync(payloads).sort()).toEqual([
      "2026-06-07-08-09-05-0001-metadata_search-request.json",
      "2026-06-07-08-09-05-0001-metadata_search-response.json"
    ])
    const read = (name: string): unknown => JSON.parse(NodeFs.readFileSync(Path.join(payloads, name), "utf8"))
    expect(read("2026-06-07-08-09-05-0001-metadata_search-request.json")).toEqual({
      timestamp: "2026-06-07T08:09:05.123Z",
      plugin: "metadata-echo",
      method: "metadata/search",
      direction: "request",
      id: 1,
      config: snapshot,
      payload: { query: "naruto" }
    })
    expect(read("2026-06-07-08-09-05-0001-metadata_search-response.json")).toMatchObject({ direction: "response", id: 1, payload: { results: [] } })
    await recorder.record("sync/pushProgress", {}, {})
    await recorder.record("sync/pushProgress", {}, {})
    expect(NodeFs.readdirSync(payloads).sort()).toEqual([
      "2026-06-07-08-09-05-0002-sync_pushProgress-request.json",
      "2026-06-07-08-09-05-0002-sync_pushProgress-response.json",
      "2026-06-07-08-09-05-0003-sync_pushProgress-request.json",
      "2026-06-07-08-09-05-0003-sync_pushProgress-response.json"
    ])
  })

  it("disabled writes nothing; an unusable folder is a warning, never a thrown error", async () => {
    const dir = tempDir()
    await new PayloadRecorder({ pluginName: "p", dataDir: dir, enabled: false, configSnapshot: {}, logger: quiet().logger }).record("m", {}, {})
    expect(NodeFs.existsSync(Path.join(dir, "payloads"))).toBe(false)
    const blocker = Path.join(dir, "blocker")
    NodeFs.writeFileSync(blocker, "not a folder")
    const { warnings, logger } = quiet()
    await expect(new PayloadRecorder({ pluginName: "p", dataDir: blocker, configSnapshot: {}, logger }).record("m", {}, {})).resolves.toBeUndefined()
    expect(warnings.length).toBeGreaterThan(0)
  })

  it("metadata-echo with recordPayloads records each answered call in its dataDir, credentials never written", async () => {
    const dataDir = tempDir()
    const wire = new PluginWire(METADATA_ECHO)
    await wire.initialize({ adminConfig: { recordPayloads: true, apiKey: "k-secret" }, credentials: { api_key: "c-secret" }, dataDir })
    await wire.call("metadata/series/search", { query: "dune" })
    await wire.call("metadata/series/get", { externalId: "echo-dune" })
    await wire.call("shutdown")
    await wire.exit
    const files = NodeFs.readdirSync(Path.join(dataDir, "payloads")).sort()
    expect(files.map((f) => f.replace(/^\d{4}(-\d\d){5}-/, ""))).toEqual([
      "0001-metadata_series_search-request.json",
      "0001-metadata_series_search-response.json",
      "0002-metadata_series_get-request.json",
      "0002-metadata_series_get-response.json"
    ])
    const text = files.map((f) => NodeFs.readFileSync(Path.join(dataDir, "payloads", f), "utf8")).join("")
    expect(text).toContain("\"apiKey\": \"[REDACTED]\"")
    expect(text).not.toContain("k-secret")
    expect(text).not.toContain("c-secret")
  })
})
