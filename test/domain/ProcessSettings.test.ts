/**
 * The host's settings, case by case from process-conformance.json: 55 handle_defaults (request 30 s, shutdown 5 s,
 * 3 failures), 56 manager_defaults (as far as this host has them: see ProcessConformance.md for the rest),
 * 57 request_timeout_override (a plugin's timeout when positive, else the default); and the environment variables.
 */
import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import { FAILURE_THRESHOLD, FAILURE_WINDOW_MS } from "../../src/domain/ProcessPluginState.ts"
import { DEFAULT_PROCESS_SETTINGS, resolveRateLimit, resolveTimeoutSeconds, settingsFromEnv } from "../../src/domain/ProcessSettings.ts"

describe("process settings", () => {
  it("defaults: the reference's handle and manager defaults (55, 56)", () => {
    assert.strictEqual(DEFAULT_PROCESS_SETTINGS.requestTimeoutSeconds, 30)
    assert.strictEqual(DEFAULT_PROCESS_SETTINGS.graceMs, 5_000)
    assert.strictEqual(DEFAULT_PROCESS_SETTINGS.maxConsecutiveFailures, 3)
    assert.strictEqual(DEFAULT_PROCESS_SETTINGS.healthIntervalMs, 60_000)
    assert.strictEqual(FAILURE_THRESHOLD, 3)
    assert.strictEqual(FAILURE_WINDOW_MS, 3_600_000)
    assert.strictEqual(DEFAULT_PROCESS_SETTINGS.readinessTimeoutMs, 5_000)
    // the reference API's default for a new plugin (its manager alone has none)
    assert.strictEqual(DEFAULT_PROCESS_SETTINGS.rateLimitPerMinute, 60)
  })

  it("a plugin's timeout wins when positive; none, 0 or a negative one means the default (57)", () => {
    assert.deepStrictEqual([300, undefined, 0, -5].map((s) => resolveTimeoutSeconds(s, 30)), [300, 30, 30, 30])
    assert.deepStrictEqual([120, 0, undefined].map((n) => resolveRateLimit(n, 60)), [120, 0, 60])
  })

  it("PLUGIN_LEDGER_PROCESS_* change the defaults; a bad value names its variable", () => {
    assert.deepStrictEqual(settingsFromEnv({}), Result.succeed({}))
    assert.deepStrictEqual(
      settingsFromEnv({
        PLUGIN_LEDGER_PROCESS_TIMEOUT: "12.5",
        PLUGIN_LEDGER_PROCESS_RATE_LIMIT: "0",
        PLUGIN_LEDGER_PROCESS_HEALTH_INTERVAL: "0",
        PLUGIN_LEDGER_PROCESS_GRACE: "2",
        PLUGIN_LEDGER_PROCESS_READINESS_TIMEOUT: "0.5",
        UNRELATED: "x"
      }),
      Result.succeed({ requestTimeoutSeconds: 12.5, rateLimitPerMinute: 0, healthIntervalMs: 0, graceMs: 2000, readinessTimeoutMs: 500 })
    )
    const bad: ReadonlyArray<readonly [string, string, string]> = [
      ["PLUGIN_LEDGER_PROCESS_TIMEOUT", "0", "PLUGIN_LEDGER_PROCESS_TIMEOUT must be a number of seconds > 0, got `0`"],
      ["PLUGIN_LEDGER_PROCESS_RATE_LIMIT", "1.5", "PLUGIN_LEDGER_PROCESS_RATE_LIMIT must be a whole number of calls per minute >= 0, got `1.5`"],
      ["PLUGIN_LEDGER_PROCESS_GRACE", "-1", "PLUGIN_LEDGER_PROCESS_GRACE must be a number of seconds >= 0, got `-1`"],
      ["PLUGIN_LEDGER_PROCESS_HEALTH_INTERVAL", "soon", "PLUGIN_LEDGER_PROCESS_HEALTH_INTERVAL must be a number of seconds >= 0, got `soon`"]
    ]
    for (const [name, value, message] of bad) assert.deepStrictEqual(settingsFromEnv({ [name]: value }), Result.fail(message))
  })
})
