import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import { DisablePlugin, EnablePlugin, InstallPlugin, type Observed, UninstallPlugin } from "../../src/domain/Commands.ts"
import { decide } from "../../src/domain/decide.ts"
import {
  type EventCause,
  LogTailRepaired,
  PluginDisabled,
  PluginEnabled,
  type PluginEvent,
  PluginInstalled,
  PluginUninstalled
} from "../../src/domain/Events.ts"
import { evolve, initialState, type PluginState } from "../../src/domain/PluginState.ts"

const cause: EventCause = { actor: "rpc", requestId: "7", client: "test-client" }
const pluginId = "sample@debug"
const installFields = {
  pluginId,
  pluginName: "sample",
  marketplaceName: "debug",
  marketplacePath: "/repo/.agents/plugins/marketplace.json",
  sourcePath: "/repo/sample",
  version: "local",
  treeHash: "a".repeat(64),
  installPolicy: "AVAILABLE",
  authPolicy: "ON_INSTALL",
  cause
} as const
const installed = new PluginInstalled(installFields)
const nothingOnDisk: Observed = { configured: false, cachePresent: false }
const configured = (enabled: boolean): Observed => ({ configured: true, configEnabled: enabled, cachePresent: true })

const given = (...events: ReadonlyArray<PluginEvent>): PluginState =>
  events.reduce((state, event, index) => evolve(state, event, index + 2), initialState)

const events = (result: Result.Result<ReadonlyArray<PluginEvent>, unknown>): ReadonlyArray<string> => {
  assert.isTrue(Result.isSuccess(result), "expected the command to be accepted")
  return Result.isSuccess(result) ? result.success.map((e) => e._tag) : []
}

describe("evolve", () => {
  it("given an install then the plugin is installed, enabled and remembers its version and tree", () => {
    const state = given(installed)
    assert.deepStrictEqual(state.plugins.get(pluginId), {
      pluginId,
      pluginName: "sample",
      marketplaceName: "debug",
      installed: true,
      config: { configured: true, enabled: true },
      enabled: true,
      version: "local",
      treeHash: "a".repeat(64),
      lastSeq: 2
    })
    assert.strictEqual(state.seq, 2)
  })

  it("given install, disable, uninstall then the plugin is gone and disabled", () => {
    const state = given(installed, new PluginDisabled({ pluginId, cause }), new PluginUninstalled({ pluginId, cause }))
    const status = state.plugins.get(pluginId)
    assert.strictEqual(status?.installed, false)
    assert.strictEqual(status?.enabled, false)
    assert.strictEqual(status?.version, undefined)
    assert.strictEqual(status?.lastSeq, 4)
  })

  it("a tail repair changes no plugin but advances the seq", () => {
    const state = given(installed, new LogTailRepaired({ bytes: 3, sha256: "b".repeat(64), quarantineFile: "q" }))
    assert.strictEqual(state.seq, 3)
    assert.strictEqual(state.plugins.get(pluginId)?.lastSeq, 2)
  })
})

describe("decide", () => {
  it("given nothing when installing then PluginInstalled is recorded with the command's cause", () => {
    const result = decide(initialState, new InstallPlugin(installFields))
    assert.deepStrictEqual(events(result), ["PluginInstalled"])
    if (Result.isSuccess(result)) assert.deepStrictEqual(result.success[0], installed)
  })

  it("given an installed plugin when installing again then it is recorded again (reinstall re-enables)", () => {
    const state = given(installed, new PluginDisabled({ pluginId, cause }))
    assert.deepStrictEqual(events(decide(state, new InstallPlugin(installFields))), ["PluginInstalled"])
  })

  it("when installing a NOT_AVAILABLE plugin then it is rejected with the reference's text", () => {
    const result = decide(initialState, new InstallPlugin({ ...installFields, installPolicy: "NOT_AVAILABLE" }))
    assert.isTrue(Result.isFailure(result))
    if (Result.isFailure(result)) {
      assert.strictEqual(result.failure.message, "plugin `sample` is not available for install in marketplace `debug`")
    }
  })

  it("given an enabled plugin when disabling then PluginDisabled; when disabling again then nothing", () => {
    const state = given(installed)
    assert.deepStrictEqual(events(decide(state, new DisablePlugin({ pluginId, observed: configured(true), cause }))), ["PluginDisabled"])
    const after = given(installed, new PluginDisabled({ pluginId, cause }))
    assert.deepStrictEqual(events(decide(after, new DisablePlugin({ pluginId, observed: configured(false), cause }))), [])
  })

  it("given a plugin disabled by a hand edit when enabling then config.toml's value counts", () => {
    // the log says enabled, the user's file says disabled: enabling must record a change
    const state = given(installed)
    assert.deepStrictEqual(events(decide(state, new EnablePlugin({ pluginId, observed: configured(false), cause }))), ["PluginEnabled"])
  })

  it("given nothing when enabling then the plugin is reported as not installed", () => {
    const result = decide(initialState, new EnablePlugin({ pluginId, observed: nothingOnDisk, cause }))
    assert.isTrue(Result.isFailure(result))
    if (Result.isFailure(result)) {
      assert.strictEqual(result.failure._tag, "PluginNotInstalled")
      assert.strictEqual(result.failure.message, "plugin `sample@debug` is not installed")
    }
  })

  it("given a config entry written before the ledger existed when enabling then it is accepted", () => {
    const result = decide(initialState, new EnablePlugin({ pluginId, observed: configured(false), cause }))
    assert.deepStrictEqual(events(result), ["PluginEnabled"])
  })

  it("given an installed plugin when uninstalling then PluginUninstalled; when uninstalling again then nothing", () => {
    assert.deepStrictEqual(events(decide(given(installed), new UninstallPlugin({ pluginId, observed: configured(true), cause }))), [
      "PluginUninstalled"
    ])
    const after = given(installed, new PluginUninstalled({ pluginId, cause }))
    assert.deepStrictEqual(events(decide(after, new UninstallPlugin({ pluginId, observed: nothingOnDisk, cause }))), [])
  })

  it("given only a leftover cache dir when uninstalling then it is removed (recorded)", () => {
    const observed: Observed = { configured: false, cachePresent: true }
    assert.deepStrictEqual(events(decide(initialState, new UninstallPlugin({ pluginId, observed, cause }))), ["PluginUninstalled"])
  })

  it("given a config table removed by hand when enabling then the change is recorded (and re-projected)", () => {
    const result = decide(given(installed), new EnablePlugin({ pluginId, observed: nothingOnDisk, cause }))
    assert.deepStrictEqual(events(result), ["PluginEnabled"])
  })
})

describe("event causes", () => {
  it("every recorded event carries the command's cause", () => {
    const state = given(installed)
    for (const command of [
      new DisablePlugin({ pluginId, observed: configured(true), cause }),
      new UninstallPlugin({ pluginId, observed: configured(true), cause })
    ]) {
      const result = decide(state, command)
      if (Result.isSuccess(result)) {
        for (const event of result.success) {
          assert.deepStrictEqual("cause" in event ? event.cause : undefined, cause)
        }
      }
    }
    assert.deepStrictEqual(new PluginEnabled({ pluginId, cause }).cause, cause)
  })
})
