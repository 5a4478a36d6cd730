import { assert, describe, it } from "@effect/vitest"
import { adoptConfig, type ConfigObservation, configDifferences } from "../../src/domain/ConfigAdoption.ts"
import { configEditsToApply } from "../../src/domain/ConfigCatchUp.ts"
import {
  ConfigUnreadable,
  type EventCause,
  PluginDisabled,
  type PluginEvent,
  PluginInstalled,
  PluginStateChangedExternally,
  PluginUninstalled
} from "../../src/domain/Events.ts"
import { evolve, initialState, type PluginState } from "../../src/domain/PluginState.ts"

const cause: EventCause = { actor: "cli" }
const edit: EventCause = { actor: "config-edit" }
const alpha = "alpha@market"
const beta = "beta@market"

const installed = (pluginId: string) =>
  new PluginInstalled({
    pluginId,
    pluginName: pluginId.split("@")[0] ?? "",
    marketplaceName: "market",
    marketplacePath: "/m/.agents/plugins/marketplace.json",
    sourcePath: "/m/p",
    version: "local",
    treeHash: "a".repeat(64),
    installPolicy: "AVAILABLE",
    authPolicy: "ON_INSTALL",
    cause
  })

const given = (...events: ReadonlyArray<PluginEvent>): PluginState =>
  events.reduce((state, event, index) => evolve(state, event, index + 2), initialState)

const readable = (tables: Record<string, boolean | undefined>, hash = "h1"): ConfigObservation => ({
  _tag: "Readable",
  hash,
  tables: new Map(Object.entries(tables).map(([id, enabled]) => [id, { enabled }]))
})

const tags = (events: ReadonlyArray<PluginEvent>) => events.map((e) => e._tag)

describe("adopting hand edits of config.toml", () => {
  it("given an installed plugin when the file still says enabled then nothing is adopted", () => {
    assert.deepStrictEqual(adoptConfig(given(installed(alpha)), readable({ [alpha]: true }), edit), [])
  })

  it("given an installed plugin when `enabled` was flipped by hand then one change with before, after and the hash", () => {
    const events = adoptConfig(given(installed(alpha)), readable({ [alpha]: false }, "hash-x"), edit)
    assert.deepStrictEqual(events, [
      new PluginStateChangedExternally({
        pluginId: alpha,
        before: { configured: true, enabled: true },
        after: { configured: true, enabled: false },
        configHash: "hash-x",
        cause: edit
      })
    ])
  })

  it("when the table was deleted, or one added for a plugin the log never saw, each is a change", () => {
    const events = adoptConfig(given(installed(alpha)), readable({ [beta]: true }), edit)
    assert.deepStrictEqual(
      events.map((e) => e._tag === "PluginStateChangedExternally" ? [e.pluginId, e.before, e.after] : e._tag),
      [
        [alpha, { configured: true, enabled: true }, { configured: false, enabled: null }],
        [beta, { configured: false, enabled: null }, { configured: true, enabled: true }]
      ]
    )
  })

  it("tables that are not plugin ids, and a table without a boolean `enabled`, are handled as Codex reads them", () => {
    assert.deepStrictEqual(configDifferences(initialState, new Map([["not-an-id", { enabled: true }]])), [])
    assert.deepStrictEqual(configDifferences(given(installed(alpha)), new Map([[alpha, { enabled: undefined }]])), [
      { pluginId: alpha, before: { configured: true, enabled: true }, after: { configured: true, enabled: null } }
    ])
  })

  it("after adoption the state agrees with the file, so the same file adopts nothing more", () => {
    const state = given(installed(alpha))
    const file = readable({ [alpha]: false })
    const adopted = adoptConfig(state, file, edit)
    const after = adopted.reduce((s, e, i) => evolve(s, e, 10 + i), state)
    assert.strictEqual(after.plugins.get(alpha)?.enabled, false)
    assert.strictEqual(after.plugins.get(alpha)?.installed, true)
    assert.deepStrictEqual(adoptConfig(after, file, edit), [])
  })

  it("given a disabled then uninstalled plugin when the file has no table then nothing is adopted", () => {
    const state = given(installed(alpha), new PluginDisabled({ pluginId: alpha, cause }), new PluginUninstalled({ pluginId: alpha, cause }))
    assert.deepStrictEqual(adoptConfig(state, readable({}), edit), [])
  })

  it("an unreadable file is recorded once per distinct content", () => {
    const bad: ConfigObservation = { _tag: "Unreadable", hash: "bad-1", message: "failed to reload config: x" }
    const first = adoptConfig(initialState, bad, edit)
    assert.deepStrictEqual(tags(first), ["ConfigUnreadable"])
    const state = first.reduce((s, e, i) => evolve(s, e, 2 + i), initialState)
    assert.deepStrictEqual(adoptConfig(state, bad, edit), [], "the same content again: nothing")
    assert.deepStrictEqual(tags(adoptConfig(state, { ...bad, hash: "bad-2" }, edit)), ["ConfigUnreadable"], "other content: again")
    assert.isTrue(state.unreadableConfigs.has("bad-1"))
    assert.deepStrictEqual(first[0], new ConfigUnreadable({ configHash: "bad-1", message: "failed to reload config: x", cause: edit }))
  })
})

describe("the order of adopted changes", () => {
  it("removed tables first (by id), then the file's tables in file order, so a replay appends them as the user did", () => {
    const zeta = "zeta@market"
    const state = given(installed(alpha), installed(beta))
    const tables = new Map<string, { readonly enabled: boolean | undefined }>([[zeta, { enabled: true }], [beta, { enabled: false }]])
    assert.deepStrictEqual(configDifferences(state, tables).map((d) => d.pluginId), [alpha, zeta, beta])
  })
})

describe("config edits of a catch-up projection", () => {
  const T = { configured: true, enabled: true }
  const F = { configured: true, enabled: false }
  const none = { configured: false, enabled: null }
  const disabled = new PluginDisabled({ pluginId: alpha, cause })
  const removed = new PluginUninstalled({ pluginId: alpha, cause })

  it("a file showing the state before the pending events gets all of them (live projection, fresh replay)", () => {
    assert.deepStrictEqual(configEditsToApply([installed(alpha), disabled], () => none, () => none), [installed(alpha), disabled])
  })

  it("a file already showing some of them gets the rest; showing all of them, none", () => {
    assert.deepStrictEqual(configEditsToApply([installed(alpha), disabled], () => none, () => T), [disabled])
    assert.deepStrictEqual(configEditsToApply([installed(alpha), disabled, removed], () => none, () => F), [removed])
  })

  it("a file showing none of the states was edited by hand: that plugin's edits are skipped, others' kept", () => {
    const pending = [installed(alpha), installed(beta)]
    const file = (id: string) => (id === alpha ? F : none)
    // alpha was installed before (T); the file says F: the user's edit wins over re-applying the install
    assert.deepStrictEqual(configEditsToApply(pending, (id) => (id === alpha ? T : none), file), [installed(beta)])
  })
})
