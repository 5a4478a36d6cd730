/**
 * The process-plugin protocol's pure rules, case by case from process-conformance.json:
 * 14 releases_method_denied_without_capability, 17 permission_table, 37 manifest_series_and_book,
 * 42 manifest_search_uri_template_wire_name (host side), 43 manifest_web_links, 44 requires_authentication_rules,
 * 45 legacy_total_book_count_ignored, 46 preview_without_format_still_parses, 50 protocol_version_constant,
 * 81 host_match_result_shape_mismatch (accepted here: a deliberate difference), 92 plugin_row_name_rule (the rule
 * of this host's registrations).
 */
import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import { checkName } from "../../src/domain/ProcessAllowlist.ts"
import { refusals, reversePermission } from "../../src/domain/ProcessPermissions.ts"
import { capabilityFor, PROTOCOL_VERSION, requiresAuthentication, validateManifest } from "../../src/domain/ProcessProtocol.ts"
import { checkResult } from "../../src/domain/ProcessResults.ts"

const base = { name: "p", displayName: "P", version: "1.0.0", protocolVersion: "1.0" }
const manifest = (extra: Record<string, unknown>) => {
  const checked = validateManifest({ ...base, capabilities: {}, ...extra })
  if (Result.isFailure(checked)) throw new Error(checked.failure)
  return checked.success
}

describe("manifest", () => {
  it("protocol version: the host speaks 1.2, never sends it, and accepts any 1.x manifest (50)", () => {
    assert.strictEqual(PROTOCOL_VERSION, "1.2")
    for (const version of ["1", "1.0", "1.1", "1.2", "1.9"]) assert.isTrue(Result.isSuccess(validateManifest({ ...base, protocolVersion: version, capabilities: {} })), version)
    for (const version of ["2.0", "0.9", "one"]) {
      const checked = validateManifest({ ...base, protocolVersion: version, capabilities: {} })
      assert.isTrue(Result.isFailure(checked) && checked.failure.includes("is not a 1.x version (this host speaks 1.2)"), version)
    }
  })

  it("series and book: both routed for metadataProvider [series, book], neither for [] (37)", () => {
    const both = manifest({ capabilities: { metadataProvider: ["series", "book"] } }).capabilities
    const none = manifest({}).capabilities
    for (const method of ["metadata/series/search", "metadata/series/get", "metadata/series/match", "metadata/book/search", "metadata/book/get", "metadata/book/match"]) {
      assert.isTrue(capabilityFor(method)?.has(both), method)
      assert.isFalse(capabilityFor(method)?.has(none), method)
    }
    assert.isFalse(capabilityFor("metadata/book/get")?.has(manifest({ capabilities: { metadataProvider: ["series"] } }).capabilities))
  })

  it("requires authentication: no auth false; required credentials true; oauth true (44)", () => {
    assert.isFalse(requiresAuthentication(manifest({})))
    assert.isFalse(requiresAuthentication(manifest({ requiredCredentials: [] })))
    assert.isTrue(requiresAuthentication(manifest({ requiredCredentials: [{ key: "access_token", label: "Token" }] })))
    assert.isTrue(requiresAuthentication(manifest({ oauth: { authorizationUrl: "https://a.invalid/auth", tokenUrl: "https://a.invalid/token" } })))
    // an oauth block the reference cannot read fails the manifest, as there
    assert.isTrue(Result.isFailure(validateManifest({ ...base, capabilities: {}, oauth: { authorizationUrl: "https://a.invalid" } })))
  })
})

describe("manifest declarations", () => {
  it("web links: parsed with their series links in order (43); a declaration without its search template fails", () => {
    const links = [{ source: "mangabaka", urlTemplate: "https://mangabaka.org/{externalId}" }, { source: "myanimelist", urlTemplate: "https://myanimelist.net/manga/{externalId}" }]
    const parsed = manifest({ capabilities: { webLinks: { searchUrlTemplate: "{config.baseUrl}/search?q={title}", seriesLinks: links } } })
    assert.deepStrictEqual(parsed.capabilities.webLinks?.seriesLinks?.map((l) => l.source), ["mangabaka", "myanimelist"])
    assert.isTrue(Result.isSuccess(validateManifest({ ...base, capabilities: { webLinks: { searchUrlTemplate: "https://x.invalid/?q={title}" } } })))
    assert.isTrue(Result.isFailure(validateManifest({ ...base, capabilities: { webLinks: { seriesLinks: links } } })))
  })

  it("searchURITemplate under its exact key (42); a user plugin with OAuth and setup texts is accepted (40)", () => {
    const template = "https://mangabaka.org/search?sort_by=popularity_asc&q=<title>"
    assert.strictEqual(manifest({ searchURITemplate: template }).searchURITemplate, template)
    assert.notProperty(manifest({}), "searchURITemplate")
    assert.isTrue(Result.isFailure(validateManifest({ ...base, capabilities: {}, searchURITemplate: 5 })))
    const user = manifest({
      pluginType: "user",
      capabilities: { userReadSync: true },
      oauth: { authorizationUrl: "https://anilist.co/api/v2/oauth/authorize", tokenUrl: "https://anilist.co/api/v2/oauth/token", pkce: false },
      userDescription: "Sync your progress",
      adminSetupInstructions: "Create an OAuth app",
      userSetupInstructions: "Connect your account"
    })
    assert.strictEqual(user.pluginType, "user")
    assert.isTrue(user.capabilities.userReadSync)
    assert.isTrue(requiresAuthentication(user))
  })
})

describe("registration names (92)", () => {
  it("1-100 of [a-z0-9-], not starting or ending with a hyphen", () => {
    for (const name of ["mangabaka", "provider123", "my-plugin", "plugin-v2", "a".repeat(100)]) assert.isUndefined(checkName(name), name)
    for (const name of ["", "MangaBaka", "My-Plugin", "my plugin", "my_plugin", "-plugin", "plugin-", "a".repeat(101), "plugin@name", "plugin.name"]) {
      assert.include(checkName(name), "invalid process plugin name", name)
    }
  })
})

describe("reverse-RPC permission table (17, 14)", () => {
  const metadata = manifest({ capabilities: { metadataProvider: ["series"] } }).capabilities
  const sync = manifest({ capabilities: { userReadSync: true } }).capabilities
  const empty = manifest({}).capabilities
  const releases = manifest({ capabilities: { releaseSource: { kinds: ["rss-uploader"], requiresAliases: true } } }).capabilities

  it("storage is open to any capabilities, even none; releases only with releaseSource; others unmapped", () => {
    for (const method of ["storage/get", "storage/set", "storage/delete", "storage/list", "storage/clear"]) {
      for (const caps of [empty, metadata, sync]) assert.deepStrictEqual(reversePermission(method, caps), { _tag: "Allowed", handler: "storage" })
    }
    assert.deepStrictEqual(reversePermission("releases/record", releases), { _tag: "Allowed", handler: "releases" })
    assert.deepStrictEqual(reversePermission("releases/record", metadata), { _tag: "Denied", required: "ReleaseSource" })
    assert.deepStrictEqual(reversePermission("releases/list_tracked", sync), { _tag: "Denied", required: "ReleaseSource" })
    assert.deepStrictEqual(reversePermission("frobnicate/zap", releases), { _tag: "UnknownMethod" })
    // only the five storage methods are mapped: an unknown one is refused before any handler (27's note)
    assert.deepStrictEqual(reversePermission("storage/unknown", empty), { _tag: "UnknownMethod" })
  })

  it("refusals carry the reference's codes and texts", () => {
    assert.deepStrictEqual(refusals.denied("releases/record", "ReleaseSource"), {
      code: -32003,
      message: "method `releases/record` requires the `ReleaseSource` capability, which the plugin did not declare"
    })
    assert.deepStrictEqual(refusals.unknownMethod("frobnicate/zap"), { code: -32601, message: "unknown method `frobnicate/zap` (no permission mapping)" })
    assert.deepStrictEqual(refusals.notReady, { code: -32601, message: "plugin not initialized; capabilities unknown" })
    assert.deepStrictEqual(refusals.noStorage, { code: -32601, message: "Storage is not available for this plugin" })
  })

  it("a release source with an unknown kind fails the manifest, as in the reference", () => {
    assert.isTrue(Result.isFailure(validateManifest({ ...base, capabilities: { releaseSource: { kinds: ["carrier-pigeon"] } } })))
  })
})

describe("result shapes", () => {
  it("a legacy totalBookCount passes and is not taken for a volume or chapter count (45)", () => {
    const legacy = { externalId: "old-1", externalUrl: "https://example.com/old-1", totalBookCount: 14 }
    const checked = checkResult("metadata/series/get", legacy)
    assert.isTrue(Result.isSuccess(checked))
    if (Result.isSuccess(checked)) {
      assert.strictEqual(checked.success, legacy, "handed on as the plugin sent it")
      assert.notProperty(checked.success, "totalVolumeCount")
      assert.notProperty(checked.success, "totalChapterCount")
    }
  })

  it("a preview without format passes (46); required fields and enum values are checked", () => {
    const old = { results: [{ externalId: "1", title: "t", preview: { status: "ongoing", genres: [], bookCount: 14 } }] }
    assert.isTrue(Result.isSuccess(checkResult("metadata/series/search", old)))
    const refused: ReadonlyArray<readonly [string, unknown, string]> = [
      ["metadata/series/get", { externalId: "1" }, "externalUrl"],
      ["metadata/series/get", { externalId: "1", externalUrl: "u", status: "publishing" }, "status"],
      ["metadata/series/search", { results: [{ title: "no id" }] }, "externalId"],
      ["sync/pushProgress", { success: [{ externalId: "1", status: "done" }], failed: [] }, "status"],
      ["recommendations/get", { recommendations: [{ externalId: "1", title: "t", score: 0.5 }] }, "reason"]
    ]
    for (const [method, value, field] of refused) {
      const checked = checkResult(method, value)
      assert.isTrue(Result.isFailure(checked) && checked.failure.includes(field), `${method}: ${JSON.stringify(value)}`)
    }
    // the push answer of case 61, statuses in snake_case
    const pushed = { success: [{ externalId: "1", status: "updated" }, { externalId: "2", status: "created" }], failed: [{ externalId: "3", status: "failed", error: "Rate limited" }] }
    assert.isTrue(Result.isSuccess(checkResult("sync/pushProgress", pushed)))
    // series authors: plain names or structured entries; null stands for an absent optional field
    assert.isTrue(Result.isSuccess(checkResult("metadata/series/get", { externalId: "1", externalUrl: "u", authors: ["A", { name: "B", role: "writer" }], year: null })))
  })

  it("match: a bare hit, null, and the reference SDK's {match, confidence, alternatives} all pass (81)", () => {
    const hit = { externalId: "match-one-piece", title: "One Piece", alternateTitles: [], relevanceScore: 0.9 }
    for (const answer of [hit, null, { match: hit, confidence: 0.85, alternatives: [] }, { match: null, confidence: 0 }]) {
      assert.isTrue(Result.isSuccess(checkResult("metadata/series/match", answer)), JSON.stringify(answer))
      assert.isTrue(Result.isSuccess(checkResult("metadata/book/match", answer)), JSON.stringify(answer))
    }
    assert.isTrue(Result.isFailure(checkResult("metadata/series/match", { match: { title: "no id" } })))
  })
})
