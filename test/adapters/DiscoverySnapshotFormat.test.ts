/**
 * The discovery snapshot's bytes: what is written reads back the same, and anything in doubt (another format,
 * version or program, a write time ahead of the clock, a damaged or truncated body, a value of the wrong shape) reads
 * as no snapshot; an entry whose files changed too close to the write time is dropped alone ("racily clean").
 */
import { assert, describe, it } from "@effect/vitest"
import * as Zlib from "node:zlib"
import { decodeSnapshot, encodeSnapshot, type SnapshotContent } from "../../src/adapters/DiscoverySnapshotFormat.ts"
import { FINE_SETTLE_MS, type Observation, signatureText } from "../../src/adapters/StatSignature.ts"
import type { PluginManifestInterface } from "../../src/domain/Manifest.ts"
import type { Marketplace } from "../../src/domain/Marketplace.ts"

const WRITTEN_AT = 1_800_000_000_000
const SETTLE_MS = 2_000
const NS_PER_MS = 1_000_000n
/** settled: older than the settle time before the write */
const OLD_NS = BigInt(WRITTEN_AT - 10_000) * NS_PER_MS
const expected = { code: "code-1", nowMs: WRITTEN_AT + 1, settleMs: SETTLE_MS }

const entry = (path: string, follow: boolean, timeNs = OLD_NS, kind: "file" | "directory" = "file"): Observation => ({
  path,
  follow,
  signature: { _tag: "Entry", kind, dev: 2049n, ino: 1234567890123n, size: 321n, mtimeNs: timeNs, ctimeNs: timeNs }
})
const missing = (path: string): Observation => ({ path, follow: false, signature: { _tag: "Missing", code: "ENOENT" } })

const marketplace: Marketplace = {
  path: "/w/.agents/plugins/marketplace.json",
  name: "m",
  interface: { displayName: "M" },
  root: "/w",
  plugins: [
    { name: "p", sourcePath: "./plugins/p", installPolicy: "AVAILABLE", authPolicy: "ON_INSTALL", products: [], category: "Design", id: "p@m", sourceDir: "/w/plugins/p" },
    { name: "q", sourcePath: "./q", installPolicy: "NOT_AVAILABLE", authPolicy: "ON_USE", products: ["CODEX"], id: "q@m", sourceDir: "/w/q" }
  ]
}
const iface: PluginManifestInterface = {
  displayName: "P \u2028 \ud800",
  shortDescription: null,
  longDescription: "long",
  developerName: null,
  category: "Productivity",
  capabilities: ["Interactive"],
  websiteUrl: null,
  privacyPolicyUrl: null,
  termsOfServiceUrl: null,
  defaultPrompt: ["Try it"],
  brandColor: null,
  composerIcon: "/w/plugins/p/icon.png",
  logo: null,
  screenshots: ["/w/plugins/p/s.png"]
}
const content: SnapshotContent = {
  listings: [],
  marketplaces: [{ key: marketplace.path, value: marketplace, observations: [entry(marketplace.path, true)] }],
  manifests: [
    { key: "/w/plugins/p", value: iface, observations: [entry("/w/plugins/p/.codex-plugin", false, OLD_NS, "directory"), entry("/w/plugins/p/.codex-plugin/plugin.json", false)] },
    // a negative entry: no plugin directory
    { key: "/w/q", value: null, observations: [missing("/w/q/.codex-plugin")] }
  ]
}
const bytes = encodeSnapshot(content, { code: "code-1", writtenAtMs: WRITTEN_AT })

/** The body of `bytes` replaced, with a header that vouches for it (length and crc). */
const withBody = (body: unknown, header: Record<string, unknown> = {}, index: unknown = [], pieces: ReadonlyArray<string> = []): Buffer => {
  const text = Buffer.from([JSON.stringify(index), JSON.stringify(body), ...pieces].join("\n"))
  const head = { format: "plugin-ledger discovery snapshot", version: 3, code: "code-1", writtenAtMs: WRITTEN_AT, bytes: text.length, crc32: Zlib.crc32(text), ...header }
  return Buffer.concat([Buffer.from(`${JSON.stringify(head)}\n`), text])
}
/** the objects line of a snapshot (its third) */
const bodyOf = (snapshot: Buffer): { marketplaces: Array<Array<unknown>>; manifests: Array<Array<unknown>> } =>
  JSON.parse(snapshot.toString("utf8").split("\n")[2] ?? "")

describe("discovery snapshot format", () => {
  it("given what discovery kept then it reads back the same, lookups as text to compare with fresh ones", () => {
    const read = decodeSnapshot(bytes, expected)?.objects()
    const stored = (observations: ReadonlyArray<Observation>) =>
      observations.map((o) => ({ path: o.path, follow: o.follow, signature: signatureText(o.signature) }))
    assert.deepStrictEqual(read, {
      marketplaces: content.marketplaces.map((e) => ({ ...e, observations: stored(e.observations) })),
      manifests: content.manifests.map((e) => ({ ...e, observations: stored(e.observations) }))
    })
    assert.deepStrictEqual(decodeSnapshot(bytes, expected)?.listings, [])
    // lookups below the key are written relative to it
    assert.deepStrictEqual(bodyOf(bytes).manifests[0]?.[1], [
      ["+/.codex-plugin", false, signatureText(entry("", false, OLD_NS, "directory").signature)],
      ["+/.codex-plugin/plugin.json", false, signatureText(entry("", false).signature)]
    ])
  })

  it("given another format, version or program, or a write time ahead of the clock, then there is no snapshot", () => {
    const body = bodyOf(bytes)
    assert.isDefined(decodeSnapshot(withBody(body), expected))
    for (const header of [{ format: "other" }, { version: 2 }, { version: 4 }, { code: "code-2" }, { writtenAtMs: expected.nowMs + 1 }, { writtenAtMs: "1" }]) {
      assert.isUndefined(decodeSnapshot(withBody(body, header), expected), JSON.stringify(header))
    }
  })

  it("given a damaged or truncated file then there is no snapshot", () => {
    for (let length = 0; length < bytes.length; length += 7) assert.isUndefined(decodeSnapshot(bytes.subarray(0, length), expected), `${length}`)
    // inside the JSON syntax, and inside a string (still JSON, still the right shape: only the crc tells)
    for (const at of [bytes.indexOf(0x0a) + 5, bytes.indexOf("\"long\"") + 2]) {
      const flipped = Buffer.from(bytes)
      flipped[at] = (flipped[at] ?? 0) ^ 0x04
      assert.isUndefined(decodeSnapshot(flipped, expected), `flipped at ${at}`)
    }
    assert.isUndefined(decodeSnapshot(Buffer.from("garbage\n{}"), expected))
    assert.isUndefined(decodeSnapshot(Buffer.alloc(0), expected))
  })

  it("given a value or a lookup of the wrong shape, vouched for by the header, then there is no snapshot", () => {
    const body = bodyOf(bytes)
    const broken: Array<(b: ReturnType<typeof bodyOf>) => void> = [
      (b) => void (b.manifests[0]![2] = { ...iface, capabilities: "Interactive" }),
      (b) => void (b.manifests[0]![2] = { ...iface, logo: 5 }),
      (b) => void (b.marketplaces[0]![2] = { ...marketplace, path: "/elsewhere/marketplace.json" }),
      (b) => void (b.marketplaces[0]![2] = { ...marketplace, plugins: [{ ...marketplace.plugins[0], installPolicy: "SOMETIMES" }] }),
      (b) => void (b.marketplaces[0]![2] = { ...marketplace, plugins: [{ ...marketplace.plugins[0], products: ["NOPE"] }] }),
      (b) => void (b.manifests[1]![1] = [["relative/path", false, "!ENOENT"]]),
      (b) => void (b.manifests[1]![1] = []),
      (b) => void (b.manifests[1]![0] = "relative"),
      (b) => void (b.manifests = [["/w/q"]])
    ]
    for (const [index, breakIt] of broken.entries()) {
      const copy = structuredClone(body)
      breakIt(copy)
      assert.isUndefined(decodeSnapshot(withBody(copy), expected)?.objects(), `case ${index}`)
    }
  })

  it("given an entry whose files changed within the settle margin of their resolution before the write then that entry alone is dropped", () => {
    const limitNs = BigInt(WRITTEN_AT - SETTLE_MS) * NS_PER_MS
    const young = (timeNs: bigint) =>
      encodeSnapshot({
        listings: [],
        marketplaces: [],
        manifests: [
          content.manifests[1]!,
          { key: "/w/plugins/p", value: iface, observations: [entry("/w/plugins/p/.codex-plugin", false), entry("/w/plugins/p/.codex-plugin/plugin.json", false, timeNs)] }
        ]
      }, { code: "code-1", writtenAtMs: WRITTEN_AT })
    const kept = (timeNs: bigint) => decodeSnapshot(young(timeNs), expected)?.objects()?.manifests.map((e) => e.key)
    // whole seconds: the full settle time
    assert.deepStrictEqual(kept(limitNs), ["/w/q"])
    assert.deepStrictEqual(kept(limitNs + 1_000_000_000n), ["/w/q"])
    assert.deepStrictEqual(kept(limitNs - 1_000_000_000n), ["/w/q", "/w/plugins/p"])
    // finer timestamps: FINE_SETTLE_MS
    const fineLimitNs = BigInt(WRITTEN_AT - FINE_SETTLE_MS) * NS_PER_MS
    assert.deepStrictEqual(kept(fineLimitNs + 1n), ["/w/q"])
    assert.deepStrictEqual(kept(fineLimitNs - 1n), ["/w/q", "/w/plugins/p"])
    assert.deepStrictEqual(kept(limitNs + 1n), ["/w/q", "/w/plugins/p"])
  })
  it("given listing fragments then they read back the same; one too young is dropped alone, a malformed one refuses the file", () => {
    const fragment = (timeNs: bigint) => ({
      key: marketplace.path,
      observations: [entry(marketplace.path, true)],
      head: "{\"name\":\"m\",\"plugins\":[",
      entries: [
        { id: "p@m", listed: true, summary: { root: "/w/plugins/p", observations: [entry("/w/plugins/p/.codex-plugin/plugin.json", false, timeNs)], head: "{\"id\":\"p@m\",", tail: "\"interface\":null}" } },
        { id: "q@m", listed: false, summary: undefined },
        { id: "r@m", listed: true, summary: undefined }
      ]
    })
    const written = (timeNs: bigint) => encodeSnapshot({ ...content, listings: [fragment(timeNs), { ...fragment(OLD_NS), key: "/w2/.agents/plugins/marketplace.json" }] }, { code: "code-1", writtenAtMs: WRITTEN_AT })
    const listings = decodeSnapshot(written(OLD_NS), expected)?.listings
    assert.deepStrictEqual(listings?.map((f) => f.key), [marketplace.path, "/w2/.agents/plugins/marketplace.json"])
    assert.deepStrictEqual(listings?.[0]?.entries, [
      { id: "p@m", listed: true, summary: { root: "/w/plugins/p", observations: [{ path: "/w/plugins/p/.codex-plugin/plugin.json", follow: false, signature: signatureText(entry("", false).signature) }], head: "{\"id\":\"p@m\",", tail: "\"interface\":null}" } },
      { id: "q@m", listed: false, summary: undefined },
      { id: "r@m", listed: true, summary: undefined }
    ])
    assert.deepStrictEqual(decodeSnapshot(written(BigInt(WRITTEN_AT) * NS_PER_MS), expected)?.listings.map((f) => f.key), ["/w2/.agents/plugins/marketplace.json"])
    const body = bodyOf(bytes)
    const looked = [["+", true, signatureText(entry("", true).signature)]]
    const index = [[marketplace.path, looked, [["id"], ["id2", null], ["id3", "/r", looked]]]]
    assert.deepStrictEqual(decodeSnapshot(withBody(body, {}, index, ["h", "sh", "st"]), expected)?.listings[0]?.entries.map((e) => e.summary?.head ?? e.listed), [false, true, "sh"])
    // pieces missing or left over
    for (const pieces of [["h", "sh"], ["h", "sh", "st", "more"], []]) {
      assert.isUndefined(decodeSnapshot(withBody(body, {}, index, pieces), expected), JSON.stringify(pieces))
    }
    for (const broken of [[[marketplace.path]], [[marketplace.path, looked, [[5]]]], [[marketplace.path, looked, [["id", 0]]]], [[marketplace.path, looked, [["id", "relative", looked]]]], [[marketplace.path, looked, "entries"]], {}]) {
      assert.isUndefined(decodeSnapshot(withBody(body, {}, broken, ["h", "sh", "st"]), expected), JSON.stringify(broken))
    }
  })
})
