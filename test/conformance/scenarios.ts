/**
 * Conformance scenarios (data). Paths in setup entries are relative to the scenario's temp root;
 * `<ROOT>` inside params, text files and symlink targets is replaced by that root. `home/` is
 * CODEX_HOME, `userhome/` is HOME unless `home: "codex-home"`, `cwd/` is the server's cwd.
 *
 * `cases` names the codex-conformance.json entries a scenario reproduces; `expect`/`expectFiles`
 * hold that case's assertions (checked against the reference); everything else is compared
 * byte for byte between the reference and ours.
 */
import type { Deviation, FrameAnswerExpectation, Json, PolicyPair, Scenario, SetupEntry, Step } from "./harness.ts"

// ---------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------

const dir = (path: string): SetupEntry => ({ kind: "dir", path })
const json = (path: string, value: Json): SetupEntry => ({ kind: "json", path, value })
const text = (path: string, content: string, mode?: number): SetupEntry =>
  mode === undefined ? { kind: "text", path, content } : { kind: "text", path, content, mode }
const bytes = (path: string, base64: string, mode?: number): SetupEntry =>
  mode === undefined ? { kind: "bytes", path, base64 } : { kind: "bytes", path, base64, mode }
const symlink = (path: string, target: string): SetupEntry => ({ kind: "symlink", path, target })

const MARKETPLACE_REL = ".agents/plugins/marketplace.json"
/** ROOT-relative path of the marketplace file of a marketplace root. */
const mpFile = (root: string): string => (root === "" ? MARKETPLACE_REL : `${root}/${MARKETPLACE_REL}`)
/** Absolute (placeholder) path of the marketplace file of a marketplace root. */
const mp = (root: string): string => `<ROOT>/${mpFile(root)}`
const abs = (rel: string): string => `<ROOT>/${rel}`

const local = (name: string, path: string, extra: { readonly [key: string]: Json } = {}): Json => ({
  name,
  source: { source: "local", path },
  ...extra
})
const marketplace = (root: string, name: string, plugins: ReadonlyArray<Json>, extra: { readonly [key: string]: Json } = {}) =>
  json(mpFile(root), { name, ...extra, plugins })
const manifest = (pluginDir: string, value: Json): SetupEntry => json(`${pluginDir}/.codex-plugin/plugin.json`, value)
const git = (root: string): SetupEntry => dir(`${root}/.git`)
const config = (content: string): SetupEntry => text("home/config.toml", content)
const cached = (marketplaceName: string, plugin: string, version = "local", value: Json = { name: plugin }): SetupEntry =>
  manifest(`home/plugins/cache/${marketplaceName}/${plugin}/${version}`, value)

const FEATURES_ON = "[features]\nplugins = true\n"

const req = (method: string, params?: Json, options: { readonly id?: number | string; readonly snapshot?: boolean } = {}): Step => {
  const base = params === undefined ? { kind: "request" as const, method } : { kind: "request" as const, method, params }
  return { ...base, ...options }
}
const raw = (line: string, id: number | string): Step => ({ kind: "raw", line, id })
/** A line sent as one frame; whatever answers it before a sentinel request's answer is compared. */
const frame = (line: string): Step => ({ kind: "frame", line })

const list = (cwds?: ReadonlyArray<string> | null, extra: { readonly [key: string]: Json } = {}): Step =>
  req("plugin/list", cwds === undefined ? { ...extra } : { cwds: cwds === null ? null : cwds.map(abs), ...extra })
const install = (marketplacePath: string, pluginName: string, options: { readonly snapshot?: boolean; readonly extra?: { readonly [key: string]: Json } } = {}): Step =>
  req("plugin/install", { marketplacePath, pluginName, ...options.extra }, options.snapshot === true ? { snapshot: true } : {})
const read = (marketplacePath: string, pluginName: string): Step => req("plugin/read", { marketplacePath, pluginName })
const uninstall = (pluginId: string, options: { readonly snapshot?: boolean; readonly extra?: { readonly [key: string]: Json } } = {}): Step =>
  req("plugin/uninstall", { pluginId, ...options.extra }, options.snapshot === true ? { snapshot: true } : {})

// ---------------------------------------------------------------------------------------------
// deliberate deviations (README "Deliberate differences from the reference"; test/conformance/README.md)
// ---------------------------------------------------------------------------------------------

/** The result of a successful plugin/install with the default auth policy. */
const INSTALL_OK: Json = { authPolicy: "ON_INSTALL", appsNeedingAuth: [] }
const PERSIST_PREFIX = "failed to persist installed plugin config: "
const CLEAR_PREFIX = "failed to clear plugin config: "
const RELOAD_PREFIX = "failed to reload config: <ROOT>/home/config.toml"

const jsonrpcEcho = (step: number): Deviation => ({
  kind: "jsonrpcEcho",
  step,
  note: "D1: ours echoes \"jsonrpc\":\"2.0\" as the first key; the rest is the reference's line byte for byte"
})

const frameAnswered = (step: number, ours: FrameAnswerExpectation | { readonly line: string }, note: string): Deviation => ({
  kind: "frameAnswered",
  step,
  ours,
  note: `D2: the reference drops this frame silently; ours answers: ${note}`
})

const topLevelPolicy = (step: number, plugins: ReadonlyArray<readonly [string, PolicyPair, PolicyPair]>): Deviation => ({
  kind: "topLevelPolicy",
  step,
  plugins: plugins.map(([id, reference, ours]) => ({ id, reference, ours })),
  note: "D3: top-level installPolicy/authPolicy are honoured by ours where the nested policy does not set them; the reference ignores them"
})
const policy = (installPolicy: string, authPolicy: string): PolicyPair => ({ installPolicy, authPolicy })

/** D7: invalid config.toml; same code and message prefix, ours changes nothing. */
const configErrorPrefix = (step: number, prefix: string, referenceChangesFiles = false): Deviation => ({
  kind: "configErrorPrefix",
  step,
  code: -32603,
  prefix,
  ...(referenceChangesFiles ? { referenceChangesFiles } : {}),
  note: referenceChangesFiles
    ? "D7: same code and message prefix, parser wording may differ; the reference changes the plugin cache before failing, ours changes nothing"
    : "D7: same code and message prefix, parser wording may differ; ours changes nothing"
})

const toLf = (text: string): string => text.replaceAll("\r\n", "\n")

/** D5: ours refuses to rewrite an inline/dotted [plugins] definition; `names`: what the message must name. */
const refusedInlineInstall = (
  step: number,
  names: string,
  referenceConfigIncludes: ReadonlyArray<string>,
  referenceConfigExcludes: ReadonlyArray<string>
): Deviation => ({
  kind: "refusedByUs",
  step,
  reason: "inlinePluginsConfig",
  ours: { code: -32603, messagePrefix: PERSIST_PREFIX, messageIncludes: [names] },
  reference: { result: INSTALL_OK },
  referenceChangesFiles: true,
  referenceConfigIncludes,
  referenceConfigExcludes,
  note: "D5: the reference converts the inline/dotted definition into a table (and recopies the cache); ours refuses: no file, cache or event changes"
})
const refusedInlineUninstall = (step: number, names: string): Deviation => ({
  kind: "refusedByUs",
  step,
  reason: "inlinePluginsConfig",
  ours: { code: -32603, messagePrefix: CLEAR_PREFIX, messageIncludes: [names] },
  reference: { result: {} },
  referenceChangesFiles: true,
  note: "D5: the reference removes the definition and the cache; ours refuses: no file, cache or event changes"
})

/** [plugins] with an inline-table entry and a dotted-key entry; the file ends without a newline. */
const INLINE_PLUGINS_CONFIG = "[features]\nplugins = true\n\n[plugins]\n\"inline@debug\" = { enabled = false }\n\"dotted@debug\".enabled = false\n\n[other]\nkey = 1"
/** Ours after installing sample-plugin: its table inserted before [other], the last line still unterminated. */
const INLINE_PLUGINS_AFTER_INSTALL = INLINE_PLUGINS_CONFIG.replace("\n\n[other]", "\n\n[plugins.\"sample-plugin@debug\"]\nenabled = true\n\n[other]")
const CRLF_NO_EOL = "model = \"o3\"\r\n[features]\r\nplugins = true"
const CRLF_TABLES =
  "# settings\r\nmodel = \"o3\"\r\n\r\n[plugins.\"sample-plugin@debug\"]\r\nenabled = false\r\n\r\n[plugins.\"other@debug\"]\r\nenabled = true # keep\r\n\r\n[profiles.fast]\r\nmodel = \"gpt\"\r\n"
const CRLF_TABLES_INSTALLED = CRLF_TABLES.replace("enabled = false", "enabled = true")
const CRLF_TABLES_UNINSTALLED = CRLF_TABLES_INSTALLED.replace("\r\n[plugins.\"other@debug\"]\r\nenabled = true # keep\r\n", "")

const PNG_1X1 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
const RANDOM_BYTES = "AP8A/gECAwSAgYL/fn1+AAAA7u7u"

const DEMO_INTERFACE: { readonly [key: string]: Json } = {
  displayName: "Plugin Display Name",
  shortDescription: "Short description for subtitle",
  longDescription: "Long description for details page",
  developerName: "OpenAI",
  category: "Productivity",
  capabilities: ["Interactive", "Write"],
  websiteURL: "https://openai.com/",
  privacyPolicyURL: "https://openai.com/policies/row-privacy-policy/",
  termsOfServiceURL: "https://openai.com/policies/row-terms-of-use/",
  defaultPrompt: ["Starter prompt for trying a plugin", "Find my next action"],
  brandColor: "#3B82F6",
  composerIcon: "./assets/icon.png",
  logo: "./assets/logo.png",
  screenshots: ["./assets/screenshot1.png", "./assets/screenshot2.png"]
}

/** A plugin source tree with every kind of content an install must copy. */
const richPlugin = (root: string): ReadonlyArray<SetupEntry> => [
  manifest(root, { name: "sample-plugin", description: "Sample plugin with everything", interface: { displayName: "Sample" } }),
  text(`${root}/skills/alpha/SKILL.md`, "---\nname: alpha\ndescription: Alpha skill\n---\n\n# Alpha\n"),
  text(`${root}/skills/beta/SKILL.md`, "---\nname: beta\ndescription: Beta skill\n---\n\nBody\n"),
  text(`${root}/skills/beta/references/notes.md`, "notes\n"),
  json(`${root}/.mcp.json`, { mcpServers: { "sample-mcp": { command: "sample-server", args: ["--stdio"] } } }),
  json(`${root}/.app.json`, { apps: {} }),
  bytes(`${root}/assets/icon.png`, PNG_1X1),
  bytes(`${root}/assets/blob.bin`, RANDOM_BYTES),
  text(`${root}/bin/run.sh`, "#!/bin/sh\necho run\n", 0o755),
  text(`${root}/nested/deep/dir/file.txt`, "deep file\n"),
  text(`${root}/.hidden`, "hidden\n"),
  text(`${root}/README.md`, "# Sample\r\nwindows line endings\r\n"),
  dir(`${root}/empty-dir`)
]

// ---------------------------------------------------------------------------------------------
// scenarios
// ---------------------------------------------------------------------------------------------

const protocol: ReadonlyArray<Scenario> = [
  {
    name: "protocol-request-before-initialize",
    cases: [],
    checks: "a request before initialize gets -32600 `Not initialized`; initialize then works",
    noHandshake: true,
    setup: [],
    steps: [
      req("plugin/list", {}, { id: 1 }),
      { kind: "initialize", id: 2 },
      { kind: "notify", method: "initialized" },
      req("plugin/list", {}, { id: 3 })
    ],
    expect: [{ step: 0, error: { code: -32600, messageIncludes: ["Not initialized"] } }, { step: 3, resultIncludes: ["\"marketplaces\":[]"] }]
  },
  {
    name: "protocol-double-initialize",
    cases: [],
    checks: "a second initialize gets -32600 `Already initialized`; the session keeps working",
    setup: [],
    steps: [{ kind: "initialize", id: 7 }, req("plugin/list", {})],
    expect: [{ step: 0, error: { code: -32600, messageIncludes: ["Already initialized"] } }]
  },
  {
    name: "protocol-requests-without-initialized-notification",
    cases: [],
    checks: "requests after initialize but before the `initialized` notification are served",
    noHandshake: true,
    setup: [],
    steps: [{ kind: "initialize", id: 1 }, req("plugin/list", {}, { id: 2 })]
  },
  {
    name: "protocol-unknown-method",
    cases: [],
    checks: "unknown method and `initialized` sent as a request: -32600 `Invalid request: unknown variant …, expected one of …`",
    setup: [],
    steps: [req("bogus/method", {}), req("initialized", {}), req("plugin/List", {})],
    deviations: [
      { kind: "unknownMethodList", step: 0, note: "the list of method names after `expected one of` differs by design" },
      { kind: "unknownMethodList", step: 1, note: "the list of method names after `expected one of` differs by design" },
      { kind: "unknownMethodList", step: 2, note: "method names are case-sensitive; list differs by design" }
    ],
    expect: [
      { step: 0, error: { code: -32600, messageIncludes: ["Invalid request: unknown variant `bogus/method`, expected one of `initialize`"] } },
      { step: 1, error: { code: -32600, messageIncludes: ["unknown variant `initialized`"] } }
    ]
  },
  {
    name: "protocol-missing-params",
    cases: [],
    checks: "a request without `params` (or with null/array params) is -32600 `Invalid request: missing field `params`` or the serde text",
    setup: [],
    steps: [
      raw("{\"id\":1,\"method\":\"plugin/list\"}", 1),
      raw("{\"id\":2,\"method\":\"plugin/list\",\"params\":null}", 2),
      raw("{\"id\":3,\"method\":\"plugin/install\"}", 3),
      raw("{\"id\":4,\"method\":\"plugin/read\"}", 4),
      raw("{\"id\":5,\"method\":\"plugin/uninstall\"}", 5),
      raw("{\"id\":6,\"method\":\"plugin/list\",\"params\":[]}", 6),
      raw("{\"id\":7,\"method\":\"plugin/uninstall\",\"params\":{}}", 7),
      raw("{\"id\":8,\"method\":\"plugin/install\",\"params\":{\"pluginName\":\"x\"}}", 8),
      raw("{\"id\":9,\"method\":\"plugin/read\",\"params\":{\"marketplacePath\":\"/tmp/x.json\"}}", 9),
      raw("{\"id\":10,\"method\":\"plugin/list\",\"params\":\"x\"}", 10)
    ],
    expect: [
      { step: 0, error: { code: -32600, messageIncludes: ["Invalid request: missing field `params`"] } },
      { step: 4, error: { code: -32600, messageIncludes: ["Invalid request: missing field `params`"] } },
      { step: 6, error: { code: -32600, messageIncludes: ["Invalid request: missing field `pluginId`"] } }
    ]
  },
  {
    name: "protocol-wrong-param-types",
    cases: [],
    checks: "serde type errors are -32600 `Invalid request: invalid type: …` with the exact serde text",
    setup: [],
    steps: [
      req("plugin/read", { marketplacePath: "/tmp/m.json", pluginName: 5 }),
      req("plugin/list", { cwds: "x" }),
      req("plugin/list", { forceRemoteSync: "yes" }),
      req("plugin/list", { cwds: [1] }),
      req("plugin/list", { cwds: [null] }),
      req("plugin/list", { forceRemoteSync: null }),
      req("plugin/uninstall", { pluginId: null }),
      req("plugin/uninstall", { pluginId: ["a@b"] }),
      req("plugin/install", { marketplacePath: 7, pluginName: "x" }),
      req("plugin/install", { marketplacePath: "/tmp/m.json", pluginName: true }),
      req("plugin/install", { marketplacePath: "/tmp/m.json", pluginName: "x", forceRemoteSync: 1 }),
      req("plugin/read", { marketplacePath: { path: "/tmp" }, pluginName: "x" }),
      req("plugin/list", { cwds: ["/ok", 2.5] }),
      req("plugin/uninstall", { pluginId: 1e21 })
    ],
    expect: [
      { step: 0, error: { code: -32600, messageIncludes: ["Invalid request: invalid type: integer `5`, expected a string"] } },
      { step: 1, error: { code: -32600, messageIncludes: ["Invalid request: invalid type: string \"x\", expected a sequence"] } },
      { step: 2, error: { code: -32600, messageIncludes: ["Invalid request: invalid type: string \"yes\", expected a boolean"] } }
    ]
  },
  {
    name: "protocol-extra-fields-ignored",
    cases: [],
    checks: "unknown fields in params and in the envelope are ignored",
    setup: [],
    steps: [
      req("plugin/list", { bogus: 1, cwds: null }),
      raw("{\"id\":100,\"method\":\"plugin/list\",\"params\":{},\"extra\":{\"a\":1}}", 100),
      req("plugin/uninstall", { pluginId: "a@b", unknownFlag: true })
    ]
  },
  {
    name: "protocol-request-ids",
    cases: [],
    checks: "string and integer ids (negative, large, i64 max/min, empty string, unicode) are echoed verbatim (digits exactly)",
    setup: [],
    steps: [
      req("plugin/list", {}, { id: "abc" }),
      req("plugin/list", {}, { id: 42 }),
      req("plugin/list", {}, { id: -3 }),
      req("plugin/list", {}, { id: "" }),
      req("plugin/list", {}, { id: 9007199254740991 }),
      req("plugin/list", {}, { id: "ünï/\"q\"" }),
      req("plugin/uninstall", { pluginId: "bad" }, { id: "err-id" }),
      raw("{\"id\":9223372036854775807,\"method\":\"plugin/list\",\"params\":{}}", Number("9223372036854775807")),
      raw("{\"id\":-9223372036854775808,\"method\":\"plugin/uninstall\",\"params\":{\"pluginId\":\"x\"}}", Number("-9223372036854775808"))
    ]
  },
  {
    name: "protocol-jsonrpc-field-echoed",
    cases: [],
    checks: "`\"jsonrpc\":\"2.0\"` on a request (first or last key; results and errors): the reference never writes it, ours echoes it as the first key (D1); `\"1.0\"`, `2` and no jsonrpc are answered alike",
    setup: [],
    steps: [
      raw("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"plugin/list\",\"params\":{}}", 1),
      raw("{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"plugin/uninstall\",\"params\":{\"pluginId\":\"x\"}}", 2),
      raw("{\"id\":\"s\",\"method\":\"plugin/read\",\"params\":{\"marketplacePath\":\"<ROOT>/nope.json\",\"pluginName\":\"x\"},\"jsonrpc\":\"2.0\"}", "s"),
      raw("{\"jsonrpc\":\"1.0\",\"id\":4,\"method\":\"plugin/list\",\"params\":{}}", 4),
      raw("{\"jsonrpc\":2,\"id\":5,\"method\":\"plugin/list\",\"params\":{}}", 5),
      raw("{\"id\":6,\"method\":\"plugin/list\",\"params\":{}}", 6)
    ],
    deviations: [jsonrpcEcho(0), jsonrpcEcho(1), jsonrpcEcho(2)],
    expect: [{ step: 0, resultExcludes: ["jsonrpc"] }, { step: 1, error: { code: -32600 } }, { step: 2, error: { code: -32600, messageIncludes: ["does not exist"] } }]
  },
  {
    name: "protocol-malformed-frames-answered",
    cases: [],
    checks: "malformed frames: the reference answers none; ours answers each with one -32700/-32600 error line (D2); `id: null` (a notification) and unknown notifications get no answer from either; the session continues",
    setup: [],
    steps: [
      frame("not json"),
      frame("{}"),
      frame("{\"id\":5}"),
      frame("{\"id\":null,\"method\":\"plugin/list\",\"params\":{}}"),
      frame("{\"id\":1.5,\"method\":\"plugin/list\",\"params\":{}}"),
      frame("{\"id\":true,\"method\":\"plugin/list\",\"params\":{}}"),
      frame("{\"id\":{\"a\":1},\"method\":\"plugin/list\",\"params\":{}}"),
      frame("{\"id\":[1],\"method\":\"plugin/list\",\"params\":{}}"),
      frame("{\"method\":\"bogus/notification\"}"),
      frame("[1,2]"),
      frame("\"just a string\""),
      frame("{\"id\":1e3,\"method\":\"plugin/list\",\"params\":{}}"),
      frame("{\"id\":18446744073709551615,\"method\":\"plugin/list\",\"params\":{}}"),
      frame("{\"id\":9223372036854775808,\"method\":\"plugin/list\",\"params\":{}}"),
      frame("{\"id\":-9223372036854775809,\"method\":\"plugin/list\",\"params\":{}}"),
      frame("{\"id\":7,\"method\":5,\"params\":{}}"),
      frame("{\"method\":[\"plugin/list\"]}"),
      frame("{\"id\":\"x\",\"method\":\"plugin/list\",\"params\":{}} trailing"),
      frame("{\"jsonrpc\":\"2.0\",\"id\":true,\"method\":\"plugin/list\",\"params\":{}}"),
      req("plugin/list", {}, { id: 6 })
    ],
    deviations: [
      frameAnswered(0, { code: -32700, messagePrefix: "Parse error: ", id: null }, "-32700 Parse error, id null"),
      frameAnswered(1, { code: -32600, message: "Invalid request: missing field `method`", id: null }, "-32600 missing field `method`, id null"),
      frameAnswered(2, { code: -32600, message: "Invalid request: missing field `method`", id: 5 }, "-32600 missing field `method`; the frame's valid id is echoed"),
      frameAnswered(4, { code: -32600, messagePrefix: "Invalid request: ", id: null }, "-32600 (float id), id null"),
      frameAnswered(5, { code: -32600, messagePrefix: "Invalid request: ", id: null }, "-32600 (bool id), id null"),
      frameAnswered(6, { code: -32600, messagePrefix: "Invalid request: ", id: null }, "-32600 (object id), id null"),
      frameAnswered(7, { code: -32600, messagePrefix: "Invalid request: ", id: null }, "-32600 (array id), id null"),
      frameAnswered(9, { code: -32600, message: "Invalid request: expected a JSON object", id: null }, "-32600 (JSON array frame), id null"),
      frameAnswered(10, { code: -32600, message: "Invalid request: expected a JSON object", id: null }, "-32600 (JSON string frame), id null"),
      frameAnswered(
        11,
        { line: "{\"id\":1000,\"result\":{\"marketplaces\":[],\"remoteSyncError\":null}}" },
        "the id 1e3 is the JSON number 1000, an integer for ours: the request is served with id 1000 (the reference's serde reads 1e3 as a float and drops the frame)"
      ),
      frameAnswered(12, { code: -32600, messagePrefix: "Invalid request: ", id: null }, "-32600 (id beyond i64: u64 max), id null"),
      frameAnswered(13, { code: -32600, messagePrefix: "Invalid request: ", id: null }, "-32600 (id i64 max + 1), id null"),
      frameAnswered(14, { code: -32600, messagePrefix: "Invalid request: ", id: null }, "-32600 (id i64 min - 1), id null"),
      frameAnswered(15, { code: -32600, messagePrefix: "Invalid request: ", id: 7 }, "-32600 (non-string method); the frame's valid id is echoed"),
      frameAnswered(16, { code: -32600, messagePrefix: "Invalid request: ", id: null }, "-32600 (non-string method, no id), id null"),
      frameAnswered(17, { code: -32700, messagePrefix: "Parse error: ", id: null }, "-32700 (trailing characters), id null"),
      frameAnswered(18, { code: -32600, messagePrefix: "Invalid request: ", id: null, jsonrpc: true }, "-32600 (bool id) with \"jsonrpc\":\"2.0\" echoed first, id null")
    ]
  }
]

const listing: ReadonlyArray<Scenario> = [
  {
    name: "list-empty-home",
    cases: [],
    checks: "no config, no marketplaces: {} / cwds [] / cwds null / an empty cwd all give `{\"marketplaces\":[],\"remoteSyncError\":null}`",
    setup: [dir("empty")],
    steps: [req("plugin/list", {}), list([]), list(null), list(["empty"]), list(["empty"], { forceRemoteSync: false }), list(null, { forceRemoteSync: true })],
    expect: [{ step: 0, resultIncludes: ["{\"marketplaces\":[],\"remoteSyncError\":null}"] }]
  },
  {
    name: "list-omitted-cwds-home-marketplace",
    cases: ["plugin_list_accepts_omitted_cwds"],
    checks: "omitted/null/empty cwds list the $HOME marketplace (plugin dir need not exist)",
    home: "codex-home",
    setup: [marketplace("home", "codex-curated", [local("home-plugin", "./home-plugin")])],
    steps: [list(null, { forceRemoteSync: false }), req("plugin/list", {}), list([])],
    expect: [{ step: 0, resultIncludes: ["\"id\":\"home-plugin@codex-curated\"", "\"path\":\"<ROOT>/home/home-plugin\""] }]
  },
  {
    name: "list-home-marketplace-comes-from-HOME-not-CODEX_HOME",
    cases: [],
    checks: "the home marketplace is $HOME/.agents/plugins/marketplace.json; CODEX_HOME/.agents is not scanned when HOME differs",
    home: "separate",
    setup: [
      marketplace("userhome", "user-market", [local("user-plugin", "./plugins/user-plugin")]),
      marketplace("home", "codex-home-market", [local("codex-home-plugin", "./plugins/x")])
    ],
    steps: [req("plugin/list", {}), list(["home"])],
    expect: [{ step: 0, resultIncludes: ["user-plugin@user-market"], resultExcludes: ["codex-home-market"] }]
  },
  {
    name: "list-relative-cwds",
    cases: ["plugin_list_rejects_relative_cwds"],
    checks: "relative cwds (alone, mixed with absolute, `.`, empty string) are -32600 `Invalid request: …`",
    setup: [dir("cwd/relative-root")],
    steps: [list(null), req("plugin/list", { cwds: ["relative-root"] }), req("plugin/list", { cwds: ["/tmp", "relative-root"] }), req("plugin/list", { cwds: ["."] }), req("plugin/list", { cwds: [""] }), req("plugin/list", { cwds: ["~/x"] })],
    expect: [
      { step: 1, error: { code: -32600, messageIncludes: ["Invalid request"] } },
      { step: 2, error: { code: -32600, messageIncludes: ["Invalid request"] } }
    ]
  },
  {
    name: "list-nonexistent-and-file-cwds",
    cases: [],
    checks: "cwds that do not exist or are files are accepted and contribute nothing; non-normalised absolute paths are accepted",
    setup: [text("afile", "x"), marketplace("repo", "mk", [local("p", "./p")]), git("repo")],
    steps: [list(["does/not/exist"]), list(["afile"]), list(["repo/../repo/./"]), list(["repo/sub/../"])]
  },
  {
    name: "list-invalid-marketplace-file",
    cases: ["plugin_list_returns_invalid_request_for_invalid_marketplace_file", "plugin_list_skips_invalid_marketplace_file_and_reports_error"],
    checks: "a marketplace file that is not JSON: list (deviation), install and read from it (-32600, compared)",
    home: "codex-home",
    setup: [config(FEATURES_ON), git("repo"), text(mpFile("repo"), "{not json")],
    steps: [list(["repo"], { forceRemoteSync: false }), install(mp("repo"), "x"), read(mp("repo"), "x")],
    deviations: [
      {
        kind: "marketplaceLoadErrors",
        step: 0,
        badFiles: [mpFile("repo")],
        note: "reference: whole list fails with -32600; ours: listing without it + marketplaceLoadErrors (S1+ behaviour)"
      }
    ],
    expect: [
      { step: 0, error: { code: -32600, messageIncludes: ["invalid marketplace file"] } },
      { step: 1, error: { code: -32600, messageIncludes: ["invalid marketplace file"] } }
    ]
  },
  {
    name: "list-invalid-marketplace-keeps-valid-ones",
    cases: ["plugin_list_keeps_valid_marketplaces_when_another_marketplace_fails_to_load"],
    checks: "one valid and one broken marketplace: the reference fails the list; ours lists the valid one and reports the other",
    home: "codex-home",
    setup: [
      config(FEATURES_ON),
      git("valid"),
      git("invalid"),
      marketplace("valid", "valid-marketplace", [local("valid-plugin", "./plugins/valid-plugin")]),
      manifest("valid/plugins/valid-plugin", { name: "valid-plugin" }),
      text(mpFile("invalid"), "{not json"),
      marketplace("home", "home-market", [local("home-plugin", "./plugins/home-plugin")])
    ],
    steps: [list(["valid", "invalid"]), install(mp("valid"), "valid-plugin", { snapshot: true })],
    deviations: [{ kind: "marketplaceLoadErrors", step: 0, badFiles: [mpFile("invalid")], note: "per-file load errors instead of failing the list" }],
    expect: [{ step: 0, error: { code: -32600, messageIncludes: ["invalid marketplace file"] } }]
  },
  {
    name: "list-marketplace-missing-name",
    cases: [],
    checks: "a marketplace without `name` is an invalid marketplace file (serde `missing field` text)",
    setup: [git("repo"), json(mpFile("repo"), { plugins: [local("p", "./p")] })],
    steps: [list(["repo"]), install(mp("repo"), "p")],
    deviations: [{ kind: "marketplaceLoadErrors", step: 0, badFiles: [mpFile("repo")], note: "per-file load error" }],
    expect: [{ step: 0, error: { code: -32600, messageIncludes: ["invalid marketplace file", "missing field `name`"] } }]
  },
  {
    name: "list-marketplace-unknown-source-kind",
    cases: [],
    checks: "a plugin entry with source kind `git` (only `local` exists in 0.116) makes the file invalid",
    setup: [git("repo"), json(mpFile("repo"), { name: "mk", plugins: [local("ok", "./ok"), { name: "remote", source: { source: "git", url: "https://example.com/x.git" } }] })],
    steps: [list(["repo"]), install(mp("repo"), "ok"), read(mp("repo"), "ok")],
    deviations: [{ kind: "marketplaceLoadErrors", step: 0, badFiles: [mpFile("repo")], note: "per-file load error" }]
  },
  {
    name: "list-marketplace-string-source",
    cases: [],
    checks: "a plain-string `source` (April+ form) is invalid in 0.116",
    setup: [git("repo"), json(mpFile("repo"), { name: "mk", plugins: [{ name: "p", source: "./plugins/p" }] })],
    steps: [list(["repo"]), install(mp("repo"), "p")],
    deviations: [{ kind: "marketplaceLoadErrors", step: 0, badFiles: [mpFile("repo")], note: "per-file load error" }]
  },
  {
    name: "list-marketplace-bad-policy-enum",
    cases: [],
    checks: "an unknown `policy.installation` value makes the file invalid (serde unknown variant text)",
    setup: [git("repo"), marketplace("repo", "mk", [local("p", "./p", { policy: { installation: "SOMETIMES" } })])],
    steps: [list(["repo"]), read(mp("repo"), "p")],
    deviations: [{ kind: "marketplaceLoadErrors", step: 0, badFiles: [mpFile("repo")], note: "per-file load error" }]
  },
  {
    name: "list-home-marketplace-first",
    cases: ["plugin_list_uses_home_config_for_enabled_state", "load_plugins_ignores_project_config_files"],
    checks: "home marketplace listed first, a later duplicate is dropped (and its emptied marketplace omitted); project .codex/config.toml is ignored",
    home: "codex-home",
    setup: [
      marketplace("home", "codex-curated", [local("shared-plugin", "./shared-plugin")]),
      cached("codex-curated", "shared-plugin"),
      config(
        "[features]\nplugins = true\n\n[plugins.\"shared-plugin@codex-curated\"]\nenabled = true\n\n[projects.\"<ROOT>/workspace-enabled\"]\ntrust_level = \"trusted\"\n"
      ),
      git("workspace-enabled"),
      marketplace("workspace-enabled", "codex-curated", [local("shared-plugin", "./shared-plugin")]),
      text("workspace-enabled/.codex/config.toml", "[plugins.\"shared-plugin@codex-curated\"]\nenabled = false\n"),
      dir("workspace-default")
    ],
    steps: [list(["workspace-enabled", "workspace-default"]), list(["workspace-default", "workspace-enabled"]), list(null)],
    expect: [
      {
        step: 0,
        resultIncludes: ["\"id\":\"shared-plugin@codex-curated\",\"name\":\"shared-plugin\",\"source\":{\"type\":\"local\",\"path\":\"<ROOT>/home/shared-plugin\"},\"installed\":true,\"enabled\":true"],
        resultExcludes: ["workspace-enabled/.agents"]
      }
    ]
  },
  {
    name: "list-project-config-cannot-enable-plugins",
    cases: ["load_plugins_ignores_project_config_files"],
    checks: "a project .codex/config.toml with [features] plugins = true and an enabled plugin changes nothing",
    setup: [
      git("repo"),
      marketplace("repo", "mk", [local("p", "./plugins/p")]),
      manifest("repo/plugins/p", { name: "p" }),
      cached("mk", "p"),
      text("repo/.codex/config.toml", "[features]\nplugins = true\n\n[plugins.\"p@mk\"]\nenabled = true\n"),
      config("[projects.\"<ROOT>/repo\"]\ntrust_level = \"trusted\"\n")
    ],
    steps: [list(["repo"]), read(mp("repo"), "p")],
    expect: [{ step: 0, resultIncludes: ["\"installed\":false,\"enabled\":false"] }]
  },
  {
    name: "list-git-root-fallback",
    cases: [],
    checks: "a cwd without its own marketplace falls back to the git root's; a cwd with its own uses only that; no git → nothing",
    setup: [
      git("repo"),
      marketplace("repo", "repo-market", [local("r1", "./plugins/r1")]),
      marketplace("repo/pkg", "pkg-market", [local("p1", "./plugins/p1")]),
      dir("repo/src/deep"),
      marketplace("nogit", "nogit-market", [local("n1", "./n1")]),
      dir("nogit/sub")
    ],
    steps: [list(["repo/src/deep"]), list(["repo/pkg"]), list(["nogit/sub"]), list(["repo/src/deep", "repo/pkg"]), list(["repo"]), list(["repo/src/deep", "repo"])],
    expect: [
      { step: 0, resultIncludes: ["repo-market"] },
      { step: 1, resultIncludes: ["pkg-market"], resultExcludes: ["repo-market"] },
      { step: 2, resultIncludes: ["\"marketplaces\":[]"] }
    ]
  },
  {
    name: "list-git-file-and-nested-repos",
    cases: [],
    checks: "git-root discovery with a `.git` file (worktree) and with nested repositories (innermost root wins)",
    setup: [
      text("wt/.git", "gitdir: /nonexistent/worktrees/wt\n"),
      marketplace("wt", "worktree-market", [local("w", "./w")]),
      dir("wt/a/b"),
      git("outer"),
      marketplace("outer", "outer-market", [local("o", "./o")]),
      git("outer/inner"),
      dir("outer/inner/src"),
      dir("outer/other/src")
    ],
    steps: [list(["wt/a/b"]), list(["outer/inner/src"]), list(["outer/other/src"])]
  },
  {
    name: "list-roots-sorted-and-deduplicated",
    cases: [],
    checks: "cwds are sorted by path and de-duplicated (client order not kept); one marketplace file reached twice is listed once",
    setup: [
      git("b-repo"),
      marketplace("b-repo", "mk-b", [local("pb", "./pb")]),
      git("a-repo"),
      marketplace("a-repo", "mk-a", [local("pa", "./pa")]),
      dir("a-repo/x"),
      dir("a-repo/y"),
      git("c-repo"),
      marketplace("c-repo", "mk-c", [local("pc", "./pc")])
    ],
    steps: [
      list(["b-repo", "a-repo", "b-repo", "a-repo/"]),
      list(["a-repo/x", "a-repo/y", "a-repo"]),
      list(["c-repo", "b-repo/../a-repo", "a-repo"]),
      list(["a-repo/y", "b-repo", "a-repo/x"])
    ]
  },
  {
    name: "list-duplicate-plugin-first-wins",
    cases: ["list_marketplaces_uses_first_duplicate_plugin_entry"],
    checks: "the first `plugin@marketplace` wins across marketplaces; a marketplace left empty is omitted; other names are distinct keys",
    setup: [
      git("repo-a"),
      marketplace("repo-a", "debug", [local("dup-plugin", "./from-a"), local("a-only-plugin", "./a-only")]),
      git("repo-b"),
      marketplace("repo-b", "debug", [local("dup-plugin", "./from-b"), local("b-only-plugin", "./b-only")]),
      git("repo-c"),
      marketplace("repo-c", "debug", [local("dup-plugin", "./from-c")]),
      git("repo-d"),
      marketplace("repo-d", "other", [local("dup-plugin", "./from-d"), local("dup-plugin", "./from-d-again")])
    ],
    steps: [list(["repo-a", "repo-b", "repo-c", "repo-d"]), list(["repo-c", "repo-b"]), install(mp("repo-b"), "dup-plugin", { snapshot: true }), list(["repo-a", "repo-b"])],
    expect: [{ step: 0, resultIncludes: ["<ROOT>/repo-a/from-a", "b-only-plugin@debug"], resultExcludes: ["<ROOT>/repo-b/from-b", "repo-c"] }]
  },
  {
    name: "list-state-features-on",
    cases: ["plugin_list_includes_install_and_enabled_state_from_config", "list_marketplaces_includes_enabled_state"],
    checks: "installed = configured and cached; enabled from config when [features] plugins = true; marketplace interface",
    setup: [
      git("repo"),
      marketplace(
        "repo",
        "codex-curated",
        [local("enabled-plugin", "./enabled-plugin"), local("disabled-plugin", "./disabled-plugin"), local("uninstalled-plugin", "./uninstalled-plugin")],
        { interface: { displayName: "ChatGPT Official" } }
      ),
      cached("codex-curated", "enabled-plugin"),
      cached("codex-curated", "disabled-plugin"),
      config("[features]\nplugins = true\n\n[plugins.\"enabled-plugin@codex-curated\"]\nenabled = true\n\n[plugins.\"disabled-plugin@codex-curated\"]\nenabled = false\n")
    ],
    steps: [list(["repo"], { forceRemoteSync: false }), read(mp("repo"), "enabled-plugin"), read(mp("repo"), "disabled-plugin")],
    expect: [
      {
        step: 0,
        resultIncludes: [
          "\"interface\":{\"displayName\":\"ChatGPT Official\"}",
          "\"id\":\"enabled-plugin@codex-curated\",\"name\":\"enabled-plugin\",\"source\":{\"type\":\"local\",\"path\":\"<ROOT>/repo/enabled-plugin\"},\"installed\":true,\"enabled\":true",
          "\"installed\":true,\"enabled\":false",
          "\"id\":\"uninstalled-plugin@codex-curated\",\"name\":\"uninstalled-plugin\",\"source\":{\"type\":\"local\",\"path\":\"<ROOT>/repo/uninstalled-plugin\"},\"installed\":false,\"enabled\":false"
        ]
      }
    ]
  },
  {
    name: "list-state-features-off",
    cases: ["load_plugins_returns_empty_when_feature_disabled"],
    checks: "same config without [features]: installed follows config+cache, enabled is false everywhere; read still works",
    setup: [
      git("repo"),
      marketplace("repo", "codex-curated", [local("enabled-plugin", "./enabled-plugin"), local("disabled-plugin", "./disabled-plugin")]),
      manifest("repo/enabled-plugin", { name: "enabled-plugin" }),
      text("repo/enabled-plugin/skills/s/SKILL.md", "---\nname: s\ndescription: skill\n---\n"),
      cached("codex-curated", "enabled-plugin"),
      cached("codex-curated", "disabled-plugin"),
      config("[plugins.\"enabled-plugin@codex-curated\"]\nenabled = true\n\n[plugins.\"disabled-plugin@codex-curated\"]\nenabled = false\n")
    ],
    steps: [list(["repo"]), read(mp("repo"), "enabled-plugin")]
  },
  {
    name: "list-state-features-explicitly-false",
    cases: ["load_plugins_returns_empty_when_feature_disabled"],
    checks: "[features] plugins = false: enabled false; install still works and leaves an already-true entry untouched",
    setup: [
      git("repo"),
      marketplace("repo", "mk", [local("p", "./p")]),
      manifest("repo/p", { name: "p" }),
      cached("mk", "p"),
      config("[features]\nplugins = false\n\n[plugins.\"p@mk\"]\nenabled = true\n")
    ],
    steps: [list(["repo"]), install(mp("repo"), "p"), read(mp("repo"), "p")]
  },
  {
    name: "list-configured-but-cache-missing",
    cases: ["list_marketplaces_marks_configured_plugin_uninstalled_when_cache_is_missing"],
    checks: "configured without cache → installed false; cached without config; cache with a non-`local` version; empty `local` dir; two version dirs",
    setup: [
      git("repo"),
      marketplace("repo", "mk", [
        local("no-cache", "./a"),
        local("no-config", "./b"),
        local("versioned", "./c"),
        local("empty-local", "./d"),
        local("two-versions", "./e"),
        local("invalid-manifest-cache", "./f"),
        local("sha-dir", "./g"),
        local("file-not-dir", "./h")
      ]),
      cached("mk", "sha-dir", "0123456789abcdef0123456789abcdef01234567"),
      text("home/plugins/cache/mk/file-not-dir/local", "not a dir\n"),
      cached("mk", "no-config"),
      cached("mk", "versioned", "1.0.0"),
      dir("home/plugins/cache/mk/empty-local/local"),
      cached("mk", "two-versions", "local"),
      cached("mk", "two-versions", "2.0.0"),
      text("home/plugins/cache/mk/invalid-manifest-cache/local/.codex-plugin/plugin.json", "{broken"),
      config(
        "[features]\nplugins = true\n\n[plugins.\"no-cache@mk\"]\nenabled = true\n\n[plugins.\"versioned@mk\"]\nenabled = true\n\n[plugins.\"empty-local@mk\"]\nenabled = true\n\n[plugins.\"two-versions@mk\"]\nenabled = true\n\n[plugins.\"invalid-manifest-cache@mk\"]\nenabled = true\n\n[plugins.\"sha-dir@mk\"]\nenabled = true\n\n[plugins.\"file-not-dir@mk\"]\nenabled = true\n"
      )
    ],
    steps: [list(["repo"])],
    expect: [{ step: 0, resultIncludes: ["\"id\":\"no-cache@mk\",\"name\":\"no-cache\",\"source\":{\"type\":\"local\",\"path\":\"<ROOT>/repo/a\"},\"installed\":false,\"enabled\":true"] }]
  },
  {
    name: "list-invalid-plugins-config-keys",
    cases: ["load_plugins_rejects_invalid_plugin_keys"],
    checks: "[plugins] keys that are not `name@marketplace` (`bad key`, `no-at`) are ignored; the listing still works",
    setup: [
      git("repo"),
      marketplace("repo", "mk", [local("p", "./p"), local("q", "./q")]),
      cached("mk", "p"),
      cached("mk", "q"),
      config("[features]\nplugins = true\n\n[plugins.\"p@mk\"]\nenabled = true\n\n[plugins.\"bad key\"]\nenabled = true\n\n[plugins.\"no-at\"]\nenabled = true\n")
    ],
    steps: [list(["repo"])]
  },
  {
    name: "list-invalid-plugins-config-type",
    cases: [],
    checks: "`enabled = \"yes\"` in one [plugins] table: list/read fail -32603 `failed to reload config: …`, install fails to persist (the reference recopies the cache first, ours changes nothing: D7), uninstall of that id works",
    setup: [
      git("repo"),
      marketplace("repo", "mk", [local("p", "./p"), local("q", "./q")]),
      manifest("repo/p", { name: "p" }),
      cached("mk", "p"),
      cached("mk", "q"),
      config("[features]\nplugins = true\n\n[plugins.\"p@mk\"]\nenabled = true\n\n[plugins.\"q@mk\"]\nenabled = \"yes\"\n")
    ],
    steps: [list(["repo"]), read(mp("repo"), "p"), install(mp("repo"), "p", { snapshot: true }), uninstall("q@mk", { snapshot: true })],
    deviations: [configErrorPrefix(0, RELOAD_PREFIX), configErrorPrefix(1, RELOAD_PREFIX), configErrorPrefix(2, PERSIST_PREFIX)]
  },
  {
    name: "list-interface-absolute-assets-s0-form",
    cases: ["plugin_list_returns_plugin_interface_with_absolute_asset_paths"],
    checks: "S0 marketplace form (top-level installPolicy/authPolicy/category), no config: interface with absolute asset paths, …URL spellings",
    setup: [
      git("repo"),
      marketplace("repo", "codex-curated", [local("demo-plugin", "./plugins/demo-plugin", { installPolicy: "AVAILABLE", authPolicy: "ON_INSTALL", category: "Design" })]),
      manifest("repo/plugins/demo-plugin", { name: "demo-plugin", interface: DEMO_INTERFACE })
    ],
    steps: [list(["repo"], { forceRemoteSync: false })],
    expect: [
      {
        step: 0,
        resultIncludes: [
          "\"category\":\"Design\"",
          "\"websiteUrl\":\"https://openai.com/\"",
          "\"composerIcon\":\"<ROOT>/repo/plugins/demo-plugin/assets/icon.png\"",
          "\"screenshots\":[\"<ROOT>/repo/plugins/demo-plugin/assets/screenshot1.png\",\"<ROOT>/repo/plugins/demo-plugin/assets/screenshot2.png\"]"
        ]
      }
    ]
  },
  {
    name: "list-interface-absolute-assets-s1-form",
    cases: ["plugin_list_returns_plugin_interface_with_absolute_asset_paths"],
    checks: "S1 marketplace form (nested policy) with [features] plugins = true: full interface object, key order",
    setup: [
      config(FEATURES_ON),
      git("repo"),
      marketplace("repo", "codex-curated", [
        local("demo-plugin", "./plugins/demo-plugin", { policy: { installation: "AVAILABLE", authentication: "ON_INSTALL" }, category: "Design" })
      ]),
      manifest("repo/plugins/demo-plugin", { name: "demo-plugin", interface: DEMO_INTERFACE })
    ],
    steps: [list(["repo"])],
    expect: [{ step: 0, resultIncludes: ["\"installPolicy\":\"AVAILABLE\",\"authPolicy\":\"ON_INSTALL\"", "\"defaultPrompt\":[\"Starter prompt for trying a plugin\",\"Find my next action\"]"] }]
  },
  {
    name: "list-interface-url-spellings",
    cases: [],
    checks: "`websiteURL` vs `websiteUrl` (and privacy/terms) spellings, and both at once",
    setup: [
      git("repo"),
      marketplace("repo", "mk", [local("upper", "./upper"), local("camel", "./camel"), local("both", "./both"), local("lower", "./lower")]),
      manifest("repo/upper", { name: "upper", interface: { websiteURL: "https://u/w", privacyPolicyURL: "https://u/p", termsOfServiceURL: "https://u/t" } }),
      manifest("repo/camel", { name: "camel", interface: { websiteUrl: "https://c/w", privacyPolicyUrl: "https://c/p", termsOfServiceUrl: "https://c/t" } }),
      manifest("repo/both", { name: "both", interface: { websiteURL: "https://b/upper", websiteUrl: "https://b/camel" } }),
      manifest("repo/lower", { name: "lower", interface: { website_url: "https://l/w", displayName: "Lower" } })
    ],
    steps: [list(["repo"])]
  },
  {
    name: "list-legacy-string-default-prompt",
    cases: ["plugin_list_accepts_legacy_string_default_prompt"],
    checks: "a single-string defaultPrompt becomes a one-item list",
    setup: [
      git("repo"),
      marketplace("repo", "codex-curated", [local("demo-plugin", "./plugins/demo-plugin")]),
      manifest("repo/plugins/demo-plugin", { name: "demo-plugin", interface: { defaultPrompt: "Starter prompt for trying a plugin" } })
    ],
    steps: [list(["repo"], { forceRemoteSync: false })],
    expect: [{ step: 0, resultIncludes: ["\"defaultPrompt\":[\"Starter prompt for trying a plugin\"]"] }]
  },
  {
    name: "list-default-prompt-limits",
    cases: [],
    checks: "more than 3 prompts, >128 chars (ASCII, multi-byte, astral), exactly 128, empty/blank, non-string entries, whitespace collapse, wrong type",
    setup: [
      git("repo"),
      marketplace("repo", "mk", [
        local("many", "./many"),
        local("long", "./long"),
        local("exact", "./exact"),
        local("multibyte", "./multibyte"),
        local("astral", "./astral"),
        local("blank", "./blank"),
        local("mixed", "./mixed"),
        local("spaces", "./spaces"),
        local("object", "./object"),
        local("number", "./number"),
        local("empty-list", "./empty-list"),
        local("null", "./null")
      ]),
      manifest("repo/many", { name: "many", interface: { defaultPrompt: ["one", "two", "three", "four", "five"] } }),
      manifest("repo/long", { name: "long", interface: { defaultPrompt: ["x".repeat(129), "ok"] } }),
      manifest("repo/exact", { name: "exact", interface: { defaultPrompt: ["y".repeat(128)] } }),
      manifest("repo/multibyte", { name: "multibyte", interface: { defaultPrompt: ["é".repeat(128), "é".repeat(129)] } }),
      manifest("repo/astral", { name: "astral", interface: { defaultPrompt: ["😀".repeat(100), "😀".repeat(128)] } }),
      manifest("repo/blank", { name: "blank", interface: { defaultPrompt: ["", "   ", "\n\t"] } }),
      manifest("repo/mixed", { name: "mixed", interface: { defaultPrompt: [1, "ok", null, { a: 1 }, "fine"] } }),
      manifest("repo/spaces", { name: "spaces", interface: { defaultPrompt: ["  lots   of \n\t space  ", `${"z".repeat(120)}          ${"z".repeat(10)}`] } }),
      manifest("repo/object", { name: "object", interface: { defaultPrompt: { text: "x" }, displayName: "Obj" } }),
      manifest("repo/number", { name: "number", interface: { defaultPrompt: 7, displayName: "Num" } }),
      manifest("repo/empty-list", { name: "empty-list", interface: { defaultPrompt: [], displayName: "Empty" } }),
      manifest("repo/null", { name: "null", interface: { defaultPrompt: null, displayName: "Null" } })
    ],
    steps: [list(["repo"])]
  },
  {
    name: "list-category-override",
    cases: ["plugin_list_returns_plugin_interface_with_absolute_asset_paths"],
    checks: "marketplace category beats manifest category; creates an interface when the manifest has none; empty category; manifest-only category",
    setup: [
      git("repo"),
      marketplace("repo", "mk", [
        local("both", "./both", { category: "Design" }),
        local("market-only", "./market-only", { category: "Tools" }),
        local("manifest-only", "./manifest-only"),
        local("no-manifest", "./no-manifest", { category: "Ghost" }),
        local("empty-category", "./empty-category", { category: "" }),
        local("null-category", "./null-category", { category: null })
      ]),
      manifest("repo/both", { name: "both", interface: { category: "Productivity", displayName: "Both" } }),
      manifest("repo/market-only", { name: "market-only" }),
      manifest("repo/manifest-only", { name: "manifest-only", interface: { category: "Productivity" } }),
      manifest("repo/empty-category", { name: "empty-category", interface: { category: "Manifest" } }),
      manifest("repo/null-category", { name: "null-category", interface: { category: "Manifest" } })
    ],
    steps: [list(["repo"]), read(mp("repo"), "market-only"), read(mp("repo"), "both")]
  },
  {
    name: "list-policy-forms",
    cases: ["plugin_install_returns_invalid_request_for_not_available_plugin"],
    checks: "top-level installPolicy/authPolicy (S0 form, honoured by ours only where the nested policy does not set them: D3) vs nested policy (S1 form), INSTALLED_BY_DEFAULT, ON_USE, empty policy, both forms, unknown and non-string top-level values (ignored by both)",
    setup: [
      git("repo"),
      marketplace("repo", "mk", [
        local("top-na", "./a", { installPolicy: "NOT_AVAILABLE", authPolicy: "ON_USE" }),
        local("nested-na", "./b", { policy: { installation: "NOT_AVAILABLE" } }),
        local("nested-ibd", "./c", { policy: { installation: "INSTALLED_BY_DEFAULT", authentication: "ON_USE" } }),
        local("nested-auth-only", "./d", { policy: { authentication: "ON_USE" } }),
        local("empty-policy", "./e", { policy: {} }),
        local("both-forms", "./f", { installPolicy: "NOT_AVAILABLE", authPolicy: "ON_INSTALL", policy: { installation: "AVAILABLE", authentication: "ON_USE" } }),
        local("top-ibd", "./g", { installPolicy: "INSTALLED_BY_DEFAULT" }),
        local("top-auth-nested-install", "./h", { authPolicy: "ON_USE", policy: { installation: "NOT_AVAILABLE" } }),
        local("top-install-empty-policy", "./i", { installPolicy: "NOT_AVAILABLE", policy: {} }),
        local("top-unknown-values", "./j", { installPolicy: "SOMETIMES", authPolicy: "on_use" }),
        local("top-non-string", "./k", { installPolicy: null, authPolicy: 5 })
      ]),
      manifest("repo/a", { name: "top-na" }),
      manifest("repo/f", { name: "both-forms" }),
      manifest("repo/h", { name: "top-auth-nested-install" })
    ],
    steps: [list(["repo"]), read(mp("repo"), "top-na"), read(mp("repo"), "top-auth-nested-install"), read(mp("repo"), "both-forms")],
    deviations: [
      topLevelPolicy(0, [
        ["top-na@mk", policy("AVAILABLE", "ON_INSTALL"), policy("NOT_AVAILABLE", "ON_USE")],
        ["top-ibd@mk", policy("AVAILABLE", "ON_INSTALL"), policy("INSTALLED_BY_DEFAULT", "ON_INSTALL")],
        ["top-auth-nested-install@mk", policy("NOT_AVAILABLE", "ON_INSTALL"), policy("NOT_AVAILABLE", "ON_USE")],
        ["top-install-empty-policy@mk", policy("AVAILABLE", "ON_INSTALL"), policy("NOT_AVAILABLE", "ON_INSTALL")]
      ]),
      topLevelPolicy(1, [["top-na@mk", policy("AVAILABLE", "ON_INSTALL"), policy("NOT_AVAILABLE", "ON_USE")]]),
      topLevelPolicy(2, [["top-auth-nested-install@mk", policy("NOT_AVAILABLE", "ON_INSTALL"), policy("NOT_AVAILABLE", "ON_USE")]])
    ],
    expect: [{ step: 3, resultIncludes: ["\"installPolicy\":\"AVAILABLE\",\"authPolicy\":\"ON_USE\""] }]
  },
  {
    name: "list-marketplace-null-policy",
    cases: [],
    checks: "`policy: null` makes the marketplace file invalid (serde `invalid type: null, expected struct …`)",
    setup: [git("repo"), marketplace("repo", "mk", [local("ok", "./ok"), local("null-policy", "./g", { policy: null })])],
    steps: [list(["repo"]), install(mp("repo"), "ok")],
    deviations: [{ kind: "marketplaceLoadErrors", step: 0, badFiles: [mpFile("repo")], note: "per-file load error" }]
  },
  {
    name: "list-products-gating",
    cases: ["plugin_install_returns_invalid_request_for_disallowed_product_plugin"],
    checks: "policy.products: [\"CHATGPT\"] / [\"ATLAS\"] are hidden from plugin/list yet installable and readable; [] and [\"CODEX\"] are listed",
    setup: [
      git("repo"),
      marketplace("repo", "mk", [
        local("chatgpt-only", "./plugins/chatgpt-only", { policy: { products: ["CHATGPT"] } }),
        local("codex-only", "./plugins/codex-only", { policy: { products: ["CODEX"] } }),
        local("atlas-only", "./plugins/atlas-only", { policy: { products: ["ATLAS"] } }),
        local("both", "./plugins/both", { policy: { products: ["CHATGPT", "CODEX"] } }),
        local("empty-products", "./plugins/empty-products", { policy: { products: [] } }),
        local("no-products", "./plugins/no-products")
      ]),
      manifest("repo/plugins/chatgpt-only", { name: "chatgpt-only" }),
      manifest("repo/plugins/codex-only", { name: "codex-only" }),
      manifest("repo/plugins/atlas-only", { name: "atlas-only" }),
      manifest("repo/plugins/both", { name: "both" }),
      manifest("repo/plugins/empty-products", { name: "empty-products" }),
      manifest("repo/plugins/no-products", { name: "no-products" })
    ],
    steps: [
      list(["repo"]),
      install(mp("repo"), "chatgpt-only"),
      install(mp("repo"), "atlas-only"),
      install(mp("repo"), "empty-products"),
      install(mp("repo"), "codex-only"),
      read(mp("repo"), "chatgpt-only"),
      list(["repo"])
    ]
  },
  {
    name: "list-manifest-asset-path-rules",
    cases: ["load_plugins_ignores_manifest_component_paths_without_dot_slash"],
    checks: "asset paths without `./`, exactly `./`, with `..`, absolute, empty, `./a/../b`, nested: ignored or resolved absolute",
    setup: [
      git("repo"),
      marketplace("repo", "mk", [local("assets", "./plugins/assets"), local("only-bad", "./plugins/only-bad")]),
      manifest("repo/plugins/assets", {
        name: "assets",
        interface: {
          composerIcon: "assets/icon.png",
          logo: "./",
          screenshots: ["./ok.png", "../up.png", "/etc/abs.png", "./a/../b.png", "", "./nested/deep/s.png", "./x/./y.png", ".//double.png"]
        }
      }),
      manifest("repo/plugins/only-bad", { name: "only-bad", interface: { composerIcon: "../x.png", logo: "/abs/logo.png", screenshots: ["nope.png"] } })
    ],
    steps: [list(["repo"]), read(mp("repo"), "assets")]
  },
  {
    name: "list-marketplace-interface-forms",
    cases: [],
    checks: "marketplace interface: displayName present, empty object, null displayName, extra fields",
    setup: [
      git("r1"),
      marketplace("r1", "with-name", [local("p1", "./p1")], { interface: { displayName: "Shown", extra: 1 } }),
      git("r2"),
      marketplace("r2", "empty-iface", [local("p2", "./p2")], { interface: {} }),
      git("r3"),
      marketplace("r3", "null-name", [local("p3", "./p3")], { interface: { displayName: null } }),
      git("r4"),
      marketplace("r4", "blank-name", [local("p4", "./p4")], { interface: { displayName: "" } })
    ],
    steps: [list(["r1", "r2", "r3", "r4"])]
  },
  {
    name: "list-manifest-edge-cases",
    cases: [],
    checks: "broken manifest JSON, manifest without name, manifest name ≠ entry name, empty interface, unknown fields: list and read",
    setup: [
      git("repo"),
      marketplace(
        "repo",
        "mk",
        [local("broken", "./broken"), local("nameless", "./nameless"), local("entry-name", "./renamed"), local("empty-iface", "./empty-iface"), local("extra", "./extra", { unknownEntryField: true })],
        { owner: { name: "someone" }, metadata: { version: "1" } }
      ),
      text("repo/broken/.codex-plugin/plugin.json", "{\"name\": \"broken\","),
      manifest("repo/nameless", { description: "no name", interface: { displayName: "Nameless" } }),
      manifest("repo/renamed", { name: "manifest-name", interface: { displayName: "Renamed" } }),
      manifest("repo/empty-iface", { name: "empty-iface", interface: { displayName: "", capabilities: [], screenshots: [] } }),
      manifest("repo/extra", { name: "extra", version: "1.2.3", author: { name: "x" }, interface: { displayName: "Extra", unknown: true } })
    ],
    steps: [list(["repo"]), read(mp("repo"), "broken"), read(mp("repo"), "nameless"), read(mp("repo"), "entry-name"), read(mp("repo"), "extra")]
  },
  {
    name: "list-empty-marketplace-omitted",
    cases: [],
    checks: "a marketplace with `plugins: []` is omitted from the listing",
    setup: [git("repo"), marketplace("repo", "empty", []), git("other"), marketplace("other", "other", [local("o", "./o")])],
    steps: [list(["repo"]), list(["repo", "other"])]
  },
  {
    name: "list-curated-repo-marketplace",
    cases: ["list_marketplaces_includes_curated_repo_marketplace"],
    checks: "CODEX_HOME/.tmp/plugins is a root even without cwds; installed state of a sha-versioned cache",
    setup: [
      config("[features]\nplugins = true\n\n[plugins.\"linear@openai-curated\"]\nenabled = true\n"),
      dir("home/.tmp/plugins/.git"),
      marketplace("home/.tmp/plugins", "openai-curated", [local("linear", "./plugins/linear"), local("gmail", "./plugins/gmail")], { interface: { displayName: "OpenAI Curated" } }),
      text("home/.tmp/plugins.sha", "0123456789abcdef0123456789abcdef01234567\n"),
      manifest("home/.tmp/plugins/plugins/linear", { name: "linear" }),
      manifest("home/.tmp/plugins/plugins/gmail", { name: "gmail" }),
      cached("openai-curated", "linear", "0123456789abcdef0123456789abcdef01234567")
    ],
    steps: [list(null), list(["home/.tmp/plugins"])],
    expect: [{ step: 0, resultIncludes: ["\"name\":\"openai-curated\",\"path\":\"<ROOT>/home/.tmp/plugins/.agents/plugins/marketplace.json\""] }]
  },
  {
    name: "list-force-remote-sync-without-auth",
    cases: ["plugin_list_force_remote_sync_returns_remote_sync_error_on_fail_open"],
    checks: "forceRemoteSync without auth is fail-open: remoteSyncError set, listing unchanged, no file changes",
    setup: [
      config(
        "chatgpt_base_url = \"https://chatgpt.com/backend-api/\"\n\n[features]\nplugins = true\n\n[plugins.\"linear@openai-curated\"]\nenabled = false\n\n[plugins.\"gmail@openai-curated\"]\nenabled = false\n\n[plugins.\"calendar@openai-curated\"]\nenabled = true\n"
      ),
      dir("home/.tmp/plugins/.git"),
      marketplace("home/.tmp/plugins", "openai-curated", [local("linear", "./plugins/linear")]),
      text("home/.tmp/plugins.sha", "0123456789abcdef0123456789abcdef01234567\n"),
      manifest("home/.tmp/plugins/plugins/linear", { name: "linear" }),
      cached("openai-curated", "linear")
    ],
    steps: [list(null, { forceRemoteSync: true }), list(null, { forceRemoteSync: false })],
    expect: [
      {
        step: 0,
        resultIncludes: [
          "chatgpt authentication required",
          "\"id\":\"linear@openai-curated\",\"name\":\"linear\",\"source\":{\"type\":\"local\",\"path\":\"<ROOT>/home/.tmp/plugins/plugins/linear\"},\"installed\":true,\"enabled\":false"
        ]
      }
    ],
    expectFiles: { configIncludes: ["[plugins.\"calendar@openai-curated\"]"], exists: ["home/plugins/cache/openai-curated/linear/local"] }
  }
]

const installing: ReadonlyArray<Scenario> = [
  {
    name: "install-happy-path",
    cases: ["install_plugin_updates_config_with_relative_path_and_plugin_key", "plugin_install_tracks_analytics_event", "install_copies_plugin_into_default_marketplace"],
    checks: "install into an empty CODEX_HOME: response, cache tree (skills, .mcp.json, .app.json, nested dirs, binary, exec bit, hidden, empty dir), new config.toml; then list and read",
    setup: [git("repo"), marketplace("repo", "debug", [local("sample-plugin", "./sample-plugin")]), ...richPlugin("repo/sample-plugin")],
    steps: [install(mp("repo"), "sample-plugin", { snapshot: true }), list(["repo"]), read(mp("repo"), "sample-plugin")],
    snapshotPaths: ["home/plugins", "home/config.toml"],
    expect: [{ step: 0, resultIncludes: ["{\"authPolicy\":\"ON_INSTALL\",\"appsNeedingAuth\":[]}"] }],
    expectFiles: {
      exists: ["home/plugins/cache/debug/sample-plugin/local/.codex-plugin/plugin.json", "home/plugins/cache/debug/sample-plugin/local/skills/alpha/SKILL.md"],
      configIncludes: ["[plugins.\"sample-plugin@debug\"]", "enabled = true"]
    }
  },
  {
    name: "install-with-features-on",
    cases: ["plugin_install_returns_apps_needing_auth"],
    checks: "install with [features] plugins = true, ON_USE auth policy, apps present but no auth (appsNeedingAuth empty); list shows enabled",
    setup: [
      config(FEATURES_ON),
      git("repo"),
      marketplace("repo", "debug", [local("sample-plugin", "./sample-plugin", { policy: { authentication: "ON_USE" } })]),
      manifest("repo/sample-plugin", { name: "sample-plugin" }),
      json("repo/sample-plugin/.app.json", { apps: { alpha: { id: "alpha" }, beta: { id: "beta" } } })
    ],
    steps: [install(mp("repo"), "sample-plugin", { snapshot: true }), list(["repo"]), read(mp("repo"), "sample-plugin")],
    expect: [{ step: 0, resultIncludes: ["\"authPolicy\":\"ON_USE\""] }]
  },
  {
    name: "install-reinstall-reenables",
    cases: ["install_plugin_updates_config_with_relative_path_and_plugin_key"],
    checks: "reinstalling a disabled plugin sets enabled = true again; the whole <m>/<p> cache dir is replaced (stale files and other version dirs removed)",
    setup: [
      config("[features]\nplugins = true\n\n[plugins.\"sample-plugin@debug\"]\nenabled = false\n"),
      git("repo"),
      marketplace("repo", "debug", [local("sample-plugin", "./sample-plugin")]),
      manifest("repo/sample-plugin", { name: "sample-plugin", description: "new" }),
      text("repo/sample-plugin/new.txt", "new\n"),
      cached("debug", "sample-plugin", "local", { name: "sample-plugin", description: "old" }),
      text("home/plugins/cache/debug/sample-plugin/local/stale.txt", "stale\n"),
      cached("debug", "sample-plugin", "0.9.0", { name: "sample-plugin" })
    ],
    steps: [list(["repo"]), install(mp("repo"), "sample-plugin", { snapshot: true }), list(["repo"]), install(mp("repo"), "sample-plugin")],
    expectFiles: { configIncludes: ["enabled = true"], absent: ["home/plugins/cache/debug/sample-plugin/local/stale.txt"] }
  },
  {
    name: "install-preserves-existing-config",
    cases: ["install_plugin_updates_config_with_relative_path_and_plugin_key", "uninstall_plugin_removes_cache_and_config_entry"],
    checks: "install/uninstall edit only [plugins.\"id\"] tables of a config.toml with comments, other tables and odd formatting",
    setup: [
      config(
        "# top comment\nmodel = \"o3\"  # trailing comment\n\n[features]\nplugins = true # inline\n\n[plugins.\"other@debug\"]\n# comment inside\nenabled = false\nextra = \"kept?\"\n\n[plugins.\"other@debug\".mcp_servers.docs]\nenabled = false\n\n[mcp_servers.docs]\ncommand = \"docs-server\"\nargs = [\"--port\", \"1\"]\n\n[profiles.fast]\nmodel = \"gpt\"\n# last comment\n"
      ),
      git("repo"),
      marketplace("repo", "debug", [local("sample-plugin", "./sample-plugin"), local("other", "./other")]),
      manifest("repo/sample-plugin", { name: "sample-plugin" }),
      manifest("repo/other", { name: "other" }),
      cached("debug", "other")
    ],
    steps: [
      install(mp("repo"), "sample-plugin", { snapshot: true }),
      install(mp("repo"), "other", { snapshot: true }),
      uninstall("other@debug", { snapshot: true }),
      uninstall("sample-plugin@debug", { snapshot: true }),
      install(mp("repo"), "sample-plugin")
    ]
  },
  {
    name: "install-already-enabled-config-untouched",
    cases: [],
    checks: "reinstalling a plugin already `enabled = true` recopies the cache but leaves config.toml untouched (bytes, comment, 0644 mode)",
    setup: [
      config("[features]\nplugins = true\n\n[plugins.\"sample-plugin@debug\"]\nenabled = true  # keep this comment\n"),
      git("repo"),
      marketplace("repo", "debug", [local("sample-plugin", "./sample-plugin")]),
      manifest("repo/sample-plugin", { name: "sample-plugin" }),
      cached("debug", "sample-plugin", "local", { name: "sample-plugin", old: true })
    ],
    steps: [install(mp("repo"), "sample-plugin", { snapshot: true })]
  },
  {
    name: "install-config-inline-and-dotted-plugins",
    cases: [],
    checks: "[plugins] holding an inline-table entry and a dotted-key entry, no final newline: installing another plugin adds its table (ours keeps the unterminated last line: D4); install/uninstall of the inline or dotted entries: the reference converts them to tables, ours refuses and changes nothing (D5)",
    setup: [
      config(INLINE_PLUGINS_CONFIG),
      git("repo"),
      marketplace("repo", "debug", [local("inline", "./inline"), local("dotted", "./dotted"), local("sample-plugin", "./sample-plugin")]),
      manifest("repo/inline", { name: "inline" }),
      manifest("repo/dotted", { name: "dotted" }),
      manifest("repo/sample-plugin", { name: "sample-plugin" }),
      cached("debug", "inline", "local", { name: "inline", description: "cached before the test" }),
      cached("debug", "dotted", "local", { name: "dotted", description: "cached before the test" })
    ],
    steps: [
      list(["repo"]),
      install(mp("repo"), "sample-plugin", { snapshot: true }),
      install(mp("repo"), "inline", { snapshot: true }),
      install(mp("repo"), "dotted", { snapshot: true }),
      uninstall("inline@debug", { snapshot: true }),
      uninstall("dotted@debug", { snapshot: true }),
      list(["repo"])
    ],
    deviations: [
      {
        kind: "configBytes",
        step: 1,
        reference: INLINE_PLUGINS_AFTER_INSTALL + "\n",
        ours: INLINE_PLUGINS_AFTER_INSTALL,
        note: "D4: the new table goes before [other]; the last line `key = 1` is outside the edited table: ours leaves it unterminated, the reference adds a final newline"
      },
      refusedInlineInstall(2, "inline@debug", ["[plugins.\"inline@debug\" ]"], ["\"inline@debug\" = {"]),
      refusedInlineInstall(3, "dotted@debug", ["[plugins.\"dotted@debug\"]"], ["\"dotted@debug\".enabled"]),
      refusedInlineUninstall(4, "inline@debug"),
      refusedInlineUninstall(5, "dotted@debug")
    ]
  },
  {
    name: "install-config-plugins-inline-value",
    cases: [],
    checks: "`plugins = { … }` as an inline value at the top: the reference converts it to tables on install/uninstall; ours refuses every edit of it and changes nothing (D5)",
    setup: [
      config("plugins = { \"alpha@debug\" = { enabled = false } }\n\n[features]\nplugins = true\n"),
      git("repo"),
      marketplace("repo", "debug", [local("alpha", "./alpha"), local("sample-plugin", "./sample-plugin")]),
      manifest("repo/alpha", { name: "alpha" }),
      manifest("repo/sample-plugin", { name: "sample-plugin" }),
      cached("debug", "alpha", "local", { name: "alpha", description: "cached before the test" })
    ],
    steps: [
      install(mp("repo"), "alpha", { snapshot: true }),
      install(mp("repo"), "sample-plugin", { snapshot: true }),
      uninstall("alpha@debug", { snapshot: true }),
      list(["repo"])
    ],
    deviations: [
      refusedInlineInstall(0, "inline", ["[plugins.\"alpha@debug\"]"], ["plugins = {"]),
      refusedInlineInstall(1, "inline", ["[plugins.\"sample-plugin@debug\"]"], []),
      refusedInlineUninstall(2, "inline")
    ]
  },
  {
    name: "install-config-dotted-plugin-keys",
    cases: [],
    checks: "`plugins.\"beta@debug\".enabled = false` as dotted keys at the top: the reference converts it on install/uninstall; ours refuses and changes nothing (D5)",
    setup: [
      config("plugins.\"beta@debug\".enabled = false\n\n[features]\nplugins = true\n"),
      git("repo"),
      marketplace("repo", "debug", [local("beta", "./beta")]),
      manifest("repo/beta", { name: "beta" }),
      cached("debug", "beta", "local", { name: "beta", description: "cached before the test" })
    ],
    steps: [install(mp("repo"), "beta", { snapshot: true }), uninstall("beta@debug", { snapshot: true }), list(["repo"])],
    deviations: [
      refusedInlineInstall(0, "beta@debug", ["[plugins.\"beta@debug\"]"], ["plugins.\"beta@debug\".enabled"]),
      refusedInlineUninstall(1, "beta@debug")
    ]
  },
  {
    name: "install-config-without-trailing-newline",
    cases: [],
    checks: "install appends to a CRLF config.toml without final newline, uninstall removes the table again: the reference rewrites to LF, ours keeps CRLF and every other byte (D4)",
    setup: [
      config(CRLF_NO_EOL),
      git("repo"),
      marketplace("repo", "debug", [local("sample-plugin", "./sample-plugin")]),
      manifest("repo/sample-plugin", { name: "sample-plugin" })
    ],
    steps: [install(mp("repo"), "sample-plugin", { snapshot: true }), uninstall("sample-plugin@debug", { snapshot: true })],
    deviations: [
      {
        kind: "configBytes",
        step: 0,
        reference: toLf(CRLF_NO_EOL) + "\n\n[plugins.\"sample-plugin@debug\"]\nenabled = true\n",
        ours: CRLF_NO_EOL + "\r\n\r\n[plugins.\"sample-plugin@debug\"]\r\nenabled = true\r\n",
        note: "D4: ours appends the table with the file's CRLF (the unterminated last line gets its CRLF because the table follows it); the reference writes LF everywhere"
      },
      {
        kind: "configBytes",
        step: 1,
        reference: toLf(CRLF_NO_EOL) + "\n",
        ours: CRLF_NO_EOL + "\r\n",
        note: "D4: the table and its leading blank line go; ours keeps CRLF"
      }
    ]
  },
  {
    name: "install-config-crlf-existing-tables",
    cases: [],
    checks: "CRLF config.toml with comments and existing plugin tables: install flips `enabled` in place, uninstall drops another table; the reference rewrites to LF, ours keeps CRLF and every byte outside the edited table (D4)",
    setup: [
      config(CRLF_TABLES),
      git("repo"),
      marketplace("repo", "debug", [local("sample-plugin", "./sample-plugin")]),
      manifest("repo/sample-plugin", { name: "sample-plugin" }),
      cached("debug", "other")
    ],
    steps: [install(mp("repo"), "sample-plugin", { snapshot: true }), uninstall("other@debug", { snapshot: true })],
    deviations: [
      {
        kind: "configBytes",
        step: 0,
        reference: toLf(CRLF_TABLES_INSTALLED),
        ours: CRLF_TABLES_INSTALLED,
        note: "D4: only the value of `enabled` changes for ours; the reference rewrites the file with LF"
      },
      {
        kind: "configBytes",
        step: 1,
        reference: toLf(CRLF_TABLES_UNINSTALLED),
        ours: CRLF_TABLES_UNINSTALLED,
        note: "D4: the table of other@debug and its leading blank line go; ours keeps CRLF"
      }
    ]
  },
  {
    name: "install-missing-marketplace-file",
    cases: ["plugin_install_returns_invalid_request_for_missing_marketplace_file"],
    checks: "install from a marketplace path that does not exist: -32600 `marketplace file … does not exist`",
    setup: [],
    steps: [install(abs("home/missing-marketplace.json"), "missing-plugin"), install(abs("nope/.agents/plugins/marketplace.json"), "x"), read(abs("home/missing-marketplace.json"), "missing-plugin")],
    expect: [{ step: 0, error: { code: -32600, messageIncludes: ["marketplace file", "does not exist"] } }]
  },
  {
    name: "install-relative-marketplace-path",
    cases: ["plugin_install_rejects_relative_marketplace_paths"],
    checks: "relative marketplacePath is -32600 `Invalid request: …` for install and read",
    setup: [git("cwd"), marketplace("cwd", "debug", [local("p", "./p")])],
    steps: [
      req("plugin/install", { marketplacePath: "relative-marketplace.json", pluginName: "missing-plugin" }),
      req("plugin/install", { marketplacePath: ".agents/plugins/marketplace.json", pluginName: "p" }),
      req("plugin/read", { marketplacePath: "relative-marketplace.json", pluginName: "p" })
    ],
    expect: [{ step: 0, error: { code: -32600, messageIncludes: ["Invalid request"] } }]
  },
  {
    name: "install-plugin-not-found",
    cases: ["plugin_read_returns_invalid_request_when_plugin_is_missing"],
    checks: "install of a name absent from the marketplace: -32600 `plugin `x` was not found in marketplace `m``",
    setup: [git("repo"), marketplace("repo", "debug", [local("sample-plugin", "./sample-plugin")]), manifest("repo/sample-plugin", { name: "sample-plugin" })],
    steps: [install(mp("repo"), "missing-plugin"), install(mp("repo"), ""), install(mp("repo"), "Sample-Plugin")],
    expect: [{ step: 0, error: { code: -32600, messageIncludes: ["plugin `missing-plugin` was not found in marketplace `debug`"] } }]
  },
  {
    name: "install-not-available",
    cases: ["plugin_install_returns_invalid_request_for_not_available_plugin"],
    checks: "policy.installation NOT_AVAILABLE → -32600 `not available for install`; a top-level installPolicy NOT_AVAILABLE is ignored by the reference and enforced by ours (D3); the nested policy wins over the top-level one",
    setup: [
      git("repo"),
      marketplace("repo", "debug", [
        local("sample-plugin", "./sample-plugin", { policy: { installation: "NOT_AVAILABLE" } }),
        local("top-level-na", "./top-level-na", { installPolicy: "NOT_AVAILABLE" }),
        local("nested-wins", "./nested-wins", { installPolicy: "NOT_AVAILABLE", policy: { installation: "AVAILABLE" } })
      ]),
      manifest("repo/sample-plugin", { name: "sample-plugin" }),
      json("repo/sample-plugin/.app.json", { apps: {} }),
      manifest("repo/top-level-na", { name: "top-level-na" }),
      manifest("repo/nested-wins", { name: "nested-wins" })
    ],
    steps: [
      install(mp("repo"), "sample-plugin", { snapshot: true }),
      install(mp("repo"), "top-level-na", { snapshot: true }),
      read(mp("repo"), "sample-plugin"),
      read(mp("repo"), "top-level-na"),
      install(mp("repo"), "nested-wins", { snapshot: true })
    ],
    deviations: [
      {
        kind: "refusedByUs",
        step: 1,
        reason: "topLevelPolicy",
        ours: { code: -32600, message: "plugin `top-level-na` is not available for install in marketplace `debug`" },
        reference: { result: INSTALL_OK },
        referenceChangesFiles: true,
        referenceConfigIncludes: ["[plugins.\"top-level-na@debug\"]"],
        note: "D3: the reference ignores the top-level installPolicy and installs; ours enforces NOT_AVAILABLE and changes nothing"
      },
      topLevelPolicy(3, [["top-level-na@debug", policy("AVAILABLE", "ON_INSTALL"), policy("NOT_AVAILABLE", "ON_INSTALL")]])
    ],
    expect: [
      { step: 0, error: { code: -32600, messageIncludes: ["plugin `sample-plugin` is not available for install in marketplace `debug`"] } },
      { step: 4, resultIncludes: ["\"result\":{\"authPolicy\":\"ON_INSTALL\",\"appsNeedingAuth\":[]}"] }
    ]
  },
  {
    name: "install-invalid-marketplace-names",
    cases: ["install_rejects_marketplace_names_with_path_separators", "plugin_root_rejects_path_separators_in_key_segments"],
    checks: "marketplace names `../../etc`, `has space`, `` are listed unvalidated but rejected at install",
    setup: [
      git("ra"),
      marketplace("ra", "../../etc", [local("sample-plugin", "./sample-plugin")]),
      manifest("ra/sample-plugin", { name: "sample-plugin" }),
      git("rb"),
      marketplace("rb", "has space", [local("sample-plugin", "./sample-plugin")]),
      manifest("rb/sample-plugin", { name: "sample-plugin" }),
      git("rc"),
      marketplace("rc", "", [local("sample-plugin", "./sample-plugin")]),
      manifest("rc/sample-plugin", { name: "sample-plugin" })
    ],
    steps: [list(["ra", "rb", "rc"]), install(mp("ra"), "sample-plugin"), install(mp("rb"), "sample-plugin"), install(mp("rc"), "sample-plugin"), read(mp("ra"), "sample-plugin")],
    expect: [{ step: 1, error: { code: -32600, messageIncludes: ["invalid marketplace name: only ASCII letters, digits, `_`, and `-` are allowed"] } }]
  },
  {
    name: "install-invalid-plugin-names",
    cases: ["install_rejects_manifest_names_with_path_separators"],
    checks: "marketplace entry names `../../etc`, `bad name`, `` and a manifest name `../../etc`: list, install, read",
    setup: [
      git("repo"),
      marketplace("repo", "debug", [
        local("../../etc", "./plugins/etc"),
        local("bad name", "./plugins/bad"),
        local("", "./plugins/empty"),
        local("good-entry", "./plugins/evil-manifest")
      ]),
      manifest("repo/plugins/etc", { name: "../../etc" }),
      manifest("repo/plugins/bad", { name: "bad name" }),
      manifest("repo/plugins/empty", { name: "" }),
      manifest("repo/plugins/evil-manifest", { name: "../../etc" })
    ],
    steps: [
      list(["repo"]),
      install(mp("repo"), "../../etc"),
      install(mp("repo"), "bad name"),
      install(mp("repo"), ""),
      install(mp("repo"), "good-entry", { snapshot: true }),
      read(mp("repo"), "../../etc"),
      read(mp("repo"), "good-entry")
    ],
    expect: [{ step: 1, error: { code: -32600, messageIncludes: ["invalid plugin name: only ASCII letters, digits, `_`, and `-` are allowed"] } }]
  },
  ...(
    [
      ["no-dot-slash", "plugins/p"],
      ["dot-slash-only", "./"],
      ["parent-dir", "./../outside"],
      ["parent-inside", "./plugins/../p"],
      ["absolute", "/etc"],
      ["curdir-inside", "./plugins/./p"],
      ["empty", ""]
    ] as const
  ).map(([label, sourcePath]): Scenario => ({
    name: `install-bad-source-path-${label}`,
    cases: [],
    checks: `marketplace local source path ${JSON.stringify(sourcePath)}: list (deviation if invalid), install and read`,
    setup: [
      git("repo"),
      marketplace("repo", "debug", [local("p", sourcePath), local("good", "./plugins/good")]),
      manifest("repo/plugins/p", { name: "p" }),
      manifest("repo/p", { name: "p" }),
      manifest("repo/plugins/good", { name: "good" }),
      manifest("outside", { name: "p" })
    ],
    steps: [list(["repo"]), install(mp("repo"), "p", { snapshot: true }), install(mp("repo"), "good"), read(mp("repo"), "p")],
    ...(label === "curdir-inside"
      ? {}
      : {
        deviations: [{ kind: "marketplaceLoadErrors" as const, step: 0, badFiles: [mpFile("repo")], note: "the bad entry makes the file invalid; ours reports it per file" }]
      })
  })),
  {
    name: "install-source-dir-missing",
    cases: [],
    checks: "install when the source dir does not exist, and when it is a regular file",
    setup: [git("repo"), marketplace("repo", "debug", [local("missing", "./plugins/missing"), local("file", "./plugins/file")]), text("repo/plugins/file", "not a dir\n")],
    steps: [install(mp("repo"), "missing", { snapshot: true }), install(mp("repo"), "file"), read(mp("repo"), "missing"), read(mp("repo"), "file")]
  },
  {
    name: "install-manifest-missing-or-broken",
    cases: ["plugin_read_returns_invalid_request_when_plugin_manifest_is_missing"],
    checks: "install when the source has no .codex-plugin/plugin.json, an unparsable one, or one that is a directory",
    setup: [
      git("repo"),
      marketplace("repo", "debug", [local("no-manifest", "./plugins/no-manifest"), local("broken", "./plugins/broken"), local("dir-manifest", "./plugins/dir-manifest")]),
      text("repo/plugins/no-manifest/README.md", "x\n"),
      text("repo/plugins/broken/.codex-plugin/plugin.json", "{nope"),
      dir("repo/plugins/dir-manifest/.codex-plugin/plugin.json")
    ],
    steps: [install(mp("repo"), "no-manifest", { snapshot: true }), install(mp("repo"), "broken"), install(mp("repo"), "dir-manifest")]
  },
  {
    name: "install-manifest-name-differs",
    cases: ["install_rejects_manifest_names_that_do_not_match_marketplace_plugin_name", "install_uses_manifest_name_for_destination_and_key"],
    checks: "manifest name ≠ marketplace entry name: install is rejected (April+ text); list/read use the entry name, skill names the manifest name",
    setup: [
      git("repo"),
      marketplace("repo", "debug", [local("entry-name", "./plugins/x")]),
      manifest("repo/plugins/x", { name: "manifest-name", description: "renamed" }),
      text("repo/plugins/x/skills/s/SKILL.md", "---\nname: s\ndescription: a skill\n---\n")
    ],
    steps: [install(mp("repo"), "entry-name", { snapshot: true }), list(["repo"]), read(mp("repo"), "entry-name"), uninstall("entry-name@debug", { snapshot: true }), uninstall("manifest-name@debug")]
  },
  {
    name: "install-manifest-without-name",
    cases: [],
    checks: "a manifest without `name` (defaults to the plugin dir name) and one with a blank name",
    setup: [
      git("repo"),
      marketplace("repo", "debug", [local("dir-name", "./plugins/dir-name"), local("blank", "./plugins/blank-dir")]),
      manifest("repo/plugins/dir-name", { description: "nameless" }),
      manifest("repo/plugins/blank-dir", { name: "  " })
    ],
    steps: [install(mp("repo"), "dir-name", { snapshot: true }), install(mp("repo"), "blank", { snapshot: true }), list(["repo"])]
  },
  {
    name: "install-symlinks-inside-plugin",
    cases: ["install_preserves_plugin_symlinks"],
    checks: "symlinks in the plugin (to a file outside, to a dir outside, dangling, relative inside) are all left out of the copy",
    setup: [
      git("repo"),
      marketplace("repo", "debug", [local("sample-plugin", "./sample-plugin")]),
      manifest("repo/sample-plugin", { name: "sample-plugin" }),
      text("outside/secret.txt", "secret\n"),
      text("outside/dir/inner.txt", "inner\n"),
      text("repo/sample-plugin/real.txt", "real\n"),
      symlink("repo/sample-plugin/link-to-secret", "<ROOT>/outside/secret.txt"),
      symlink("repo/sample-plugin/link-to-dir", "<ROOT>/outside/dir"),
      symlink("repo/sample-plugin/dangling", "<ROOT>/nowhere"),
      symlink("repo/sample-plugin/relative-link", "real.txt")
    ],
    steps: [install(mp("repo"), "sample-plugin", { snapshot: true }), list(["repo"])]
  },
  {
    name: "install-symlinked-source-dir",
    cases: [],
    checks: "a plugin source dir that is a symlink to a dir outside the marketplace root: the reference follows it and copies its contents; ours rejects the install and copies nothing (D6)",
    setup: [
      git("repo"),
      marketplace("repo", "debug", [local("sample-plugin", "./plugins/sample-plugin")]),
      manifest("elsewhere/sample-plugin", { name: "sample-plugin" }),
      text("elsewhere/sample-plugin/file.txt", "x\n"),
      symlink("repo/plugins/sample-plugin", "<ROOT>/elsewhere/sample-plugin")
    ],
    steps: [list(["repo"]), install(mp("repo"), "sample-plugin", { snapshot: true }), read(mp("repo"), "sample-plugin")],
    deviations: [
      {
        kind: "refusedByUs",
        step: 1,
        reason: "symlinkedSourceDir",
        ours: {
          code: -32600,
          message: "invalid marketplace file `<ROOT>/repo/.agents/plugins/marketplace.json`: local plugin source path must stay within the marketplace root"
        },
        reference: { result: INSTALL_OK },
        referenceChangesFiles: true,
        note: "D6: the reference follows the symlink and copies elsewhere/sample-plugin; ours rejects the install and copies nothing"
      }
    ]
  },
  {
    name: "install-marketplace-outside-agents-dir",
    cases: [],
    checks: "a marketplace file not under `<root>/.agents/plugins/` is rejected by install/read; any file name inside `.agents/plugins/` is accepted",
    setup: [
      json("repo/marketplace.json", { name: "debug", plugins: [local("p", "./p")] }),
      manifest("repo/p", { name: "p" }),
      json("repo/.agents/other/marketplace.json", { name: "debug", plugins: [local("p", "./p")] }),
      json("repo/.agents/plugins/custom-name.json", { name: "debug", plugins: [local("p", "./p")] })
    ],
    steps: [
      install(abs("repo/marketplace.json"), "p"),
      install(abs("repo/.agents/other/marketplace.json"), "p"),
      install(abs("repo/.agents/plugins/custom-name.json"), "p", { snapshot: true }),
      read(abs("repo/marketplace.json"), "p"),
      read(abs("repo/.agents/plugins/custom-name.json"), "p")
    ]
  },
  {
    name: "install-marketplace-path-is-directory",
    cases: [],
    checks: "marketplacePath pointing at a directory: -32603 with the OS error text (`Is a directory (os error 21)`)",
    setup: [dir("repo/.agents/plugins/marketplace.json")],
    steps: [install(mp("repo"), "p"), read(mp("repo"), "p")]
  },
  {
    name: "install-curated-uses-sha-version",
    cases: ["refresh_curated_plugin_cache_replaces_existing_local_version_with_sha"],
    checks: "installing from the openai-curated marketplace uses the trimmed .tmp/plugins.sha as version dir",
    setup: [
      config(FEATURES_ON),
      dir("home/.tmp/plugins/.git"),
      marketplace("home/.tmp/plugins", "openai-curated", [local("linear", "./plugins/linear")]),
      text("home/.tmp/plugins.sha", "  0123456789abcdef0123456789abcdef01234567\n"),
      manifest("home/.tmp/plugins/plugins/linear", { name: "linear" }),
      cached("openai-curated", "linear", "local")
    ],
    steps: [install(mp("home/.tmp/plugins"), "linear", { snapshot: true }), list(null)]
  },
  {
    name: "install-curated-sha-missing",
    cases: [],
    checks: "installing from an `openai-curated` marketplace (in .tmp/plugins or elsewhere) without .tmp/plugins.sha: -32600 `local curated marketplace sha is not available`",
    setup: [
      config(FEATURES_ON),
      dir("home/.tmp/plugins/.git"),
      marketplace("home/.tmp/plugins", "openai-curated", [local("linear", "./plugins/linear")]),
      manifest("home/.tmp/plugins/plugins/linear", { name: "linear" }),
      git("repo"),
      marketplace("repo", "openai-curated", [local("linear", "./linear")]),
      manifest("repo/linear", { name: "linear" })
    ],
    steps: [install(mp("home/.tmp/plugins"), "linear", { snapshot: true }), install(mp("repo"), "linear")]
  },
  {
    name: "install-force-remote-sync-without-auth",
    cases: ["plugin_install_force_remote_sync_enables_remote_plugin_before_local_install"],
    checks: "install with forceRemoteSync and no auth: -32603 after marketplace resolution (not-found errors win) and before any local change",
    setup: [
      config("chatgpt_base_url = \"http://127.0.0.1:9/backend-api/\"\n[features]\nplugins = true\n"),
      git("repo"),
      marketplace("repo", "debug", [local("sample-plugin", "./sample-plugin")]),
      manifest("repo/sample-plugin", { name: "sample-plugin" })
    ],
    steps: [
      install(mp("repo"), "sample-plugin", { snapshot: true, extra: { forceRemoteSync: true } }),
      install(mp("repo"), "missing-plugin", { extra: { forceRemoteSync: true } }),
      install(abs("nope.json"), "x", { extra: { forceRemoteSync: true } }),
      install(mp("repo"), "sample-plugin", { extra: { forceRemoteSync: false } })
    ]
  }
]

const uninstalling: ReadonlyArray<Scenario> = [
  {
    name: "uninstall-twice",
    cases: ["plugin_uninstall_removes_plugin_cache_and_config_entry", "uninstall_plugin_removes_cache_and_config_entry"],
    checks: "uninstall removes the whole cache dir and the config table; a second call is also {}; other plugins untouched",
    setup: [
      config(
        "[features]\nplugins = true\n\n[plugins.\"sample-plugin@debug\"]\nenabled = true\n\n[plugins.\"sample-plugin@debug\".mcp_servers.docs]\nenabled = false\n\n[plugins.\"other@debug\"]\nenabled = true\n"
      ),
      cached("debug", "sample-plugin"),
      cached("debug", "sample-plugin", "1.0.0"),
      cached("debug", "other")
    ],
    steps: [uninstall("sample-plugin@debug", { snapshot: true }), uninstall("sample-plugin@debug", { snapshot: true })],
    expect: [{ step: 0, resultIncludes: ["{\"id\":1,\"result\":{}}"] }, { step: 1, resultIncludes: ["\"result\":{}"] }],
    expectFiles: { absent: ["home/plugins/cache/debug/sample-plugin"], configExcludes: ["[plugins.\"sample-plugin@debug\"]"], configIncludes: ["[plugins.\"other@debug\"]"] }
  },
  {
    name: "uninstall-bad-ids",
    cases: ["load_plugins_rejects_invalid_plugin_keys"],
    checks: "plugin ids `sample`, `a@b@c`, `../../etc@debug`, `x@`, `@x`, `sample@../../etc`, ``, `@`, `a b@c`",
    setup: [config("[plugins.\"b@c\"]\nenabled = true\n"), cached("c", "b")],
    steps: [
      uninstall("sample"),
      uninstall("a@b@c", { snapshot: true }),
      uninstall("../../etc@debug"),
      uninstall("x@"),
      uninstall("@x"),
      uninstall("sample@../../etc"),
      uninstall(""),
      uninstall("@"),
      uninstall("a b@c"),
      uninstall("a@b c")
    ],
    expect: [
      { step: 0, error: { code: -32600, messageIncludes: ["invalid plugin key `sample`; expected <plugin>@<marketplace>"] } },
      { step: 2, error: { code: -32600, messageIncludes: ["invalid plugin name: only ASCII letters, digits, `_`, and `-` are allowed in `../../etc@debug`"] } }
    ]
  },
  {
    name: "uninstall-never-installed",
    cases: [],
    checks: "uninstalling a never-installed plugin without config.toml: {} and neither config.toml nor plugins/ is created",
    setup: [],
    steps: [uninstall("ghost@debug", { snapshot: true })],
    snapshotPaths: ["home/plugins", "home/config.toml"]
  },
  {
    name: "uninstall-not-configured-existing-config",
    cases: [],
    checks: "uninstalling an unconfigured plugin leaves an existing config.toml untouched (bytes and 0644 mode)",
    setup: [config("# comment\n[features]\nplugins = true\n")],
    steps: [uninstall("ghost@debug", { snapshot: true })]
  },
  {
    name: "config-invalid-toml",
    cases: [],
    checks: "config.toml that is not TOML: list/read -32603; the reference's install copies the cache then fails to persist and its uninstall removes the cache then fails to clear the config; ours fails alike (same code and message prefix) and changes nothing (D7)",
    setup: [
      config("[features\nplugins = true\n"),
      git("repo"),
      marketplace("repo", "debug", [local("sample-plugin", "./sample-plugin")]),
      manifest("repo/sample-plugin", { name: "sample-plugin" })
    ],
    steps: [list(["repo"]), read(mp("repo"), "sample-plugin"), install(mp("repo"), "sample-plugin", { snapshot: true }), uninstall("sample-plugin@debug", { snapshot: true })],
    deviations: [
      configErrorPrefix(0, RELOAD_PREFIX),
      configErrorPrefix(1, RELOAD_PREFIX),
      configErrorPrefix(2, PERSIST_PREFIX, true),
      configErrorPrefix(3, CLEAR_PREFIX, true)
    ]
  },
  {
    name: "uninstall-config-only-and-cache-only",
    cases: [],
    checks: "a plugin configured without cache, and one cached without config; existing config bytes otherwise preserved",
    setup: [
      config("# keep me\n[features]\nplugins = true\n\n[plugins.\"config-only@debug\"]\nenabled = false\n\n[plugins.\"keep@debug\"]\nenabled = true\n"),
      cached("debug", "cache-only"),
      cached("debug", "keep")
    ],
    steps: [uninstall("config-only@debug", { snapshot: true }), uninstall("cache-only@debug", { snapshot: true }), uninstall("missing@debug")]
  },
  {
    name: "uninstall-force-remote-sync-without-auth",
    cases: ["plugin_uninstall_force_remote_sync_calls_remote_uninstall_first"],
    checks: "uninstall with forceRemoteSync and no auth: error and nothing removed",
    setup: [config("[features]\nplugins = true\n\n[plugins.\"sample-plugin@debug\"]\nenabled = true\n"), cached("debug", "sample-plugin")],
    steps: [
      uninstall("sample-plugin@debug", { snapshot: true, extra: { forceRemoteSync: true } }),
      uninstall("bad-id", { extra: { forceRemoteSync: true } }),
      uninstall("sample-plugin@debug", { extra: { forceRemoteSync: false } })
    ]
  },
  {
    name: "install-uninstall-roundtrip",
    cases: ["plugin_uninstall_removes_plugin_cache_and_config_entry"],
    checks: "install then uninstall on a config with only [features]: the [plugins] table disappears entirely, the empty cache/<marketplace> dir stays",
    setup: [config(FEATURES_ON), git("repo"), marketplace("repo", "debug", [local("sample-plugin", "./sample-plugin")]), manifest("repo/sample-plugin", { name: "sample-plugin" })],
    steps: [install(mp("repo"), "sample-plugin", { snapshot: true }), uninstall("sample-plugin@debug", { snapshot: true }), list(["repo"])],
    snapshotPaths: ["home/plugins", "home/config.toml"]
  }
]

const reading: ReadonlyArray<Scenario> = [
  {
    name: "read-happy-path",
    cases: ["plugin_read_returns_plugin_details_with_bundle_contents"],
    checks: "plugin/read: summary (installed/enabled), description, skills, apps (id fallback name/installUrl), mcpServers",
    setup: [
      git("repo"),
      marketplace("repo", "codex-curated", [
        local("demo-plugin", "./plugins/demo-plugin", { policy: { installation: "AVAILABLE", authentication: "ON_INSTALL" }, category: "Design" })
      ]),
      manifest("repo/plugins/demo-plugin", {
        name: "demo-plugin",
        description: "Longer manifest description",
        interface: { ...DEMO_INTERFACE, defaultPrompt: ["Draft the reply", "Find my next action"], screenshots: ["./assets/screenshot1.png"] }
      }),
      text("repo/plugins/demo-plugin/skills/thread-summarizer/SKILL.md", "---\nname: thread-summarizer\ndescription: Summarize email threads\n---\n\n# Thread Summarizer\n"),
      json("repo/plugins/demo-plugin/.app.json", { apps: { gmail: { id: "gmail" } } }),
      json("repo/plugins/demo-plugin/.mcp.json", { mcpServers: { demo: { command: "demo-server" } } }),
      config("[features]\nplugins = true\n\n[plugins.\"demo-plugin@codex-curated\"]\nenabled = true\n"),
      cached("codex-curated", "demo-plugin")
    ],
    steps: [read(mp("repo"), "demo-plugin")],
    expect: [
      {
        step: 0,
        resultIncludes: [
          "\"marketplaceName\":\"codex-curated\"",
          "\"description\":\"Longer manifest description\"",
          "\"name\":\"demo-plugin:thread-summarizer\"",
          "\"installUrl\":\"https://chatgpt.com/apps/gmail/gmail\"",
          "\"mcpServers\":[\"demo\"]",
          "\"installed\":true,\"enabled\":true"
        ]
      }
    ]
  },
  {
    name: "read-missing-plugin",
    cases: ["plugin_read_returns_invalid_request_when_plugin_is_missing"],
    checks: "read of a name absent from the marketplace: -32600",
    setup: [config(FEATURES_ON), git("repo"), marketplace("repo", "codex-curated", [local("demo-plugin", "./plugins/demo-plugin")])],
    steps: [read(mp("repo"), "missing-plugin")],
    expect: [{ step: 0, error: { code: -32600, messageIncludes: ["plugin `missing-plugin` was not found"] } }]
  },
  {
    name: "read-missing-manifest",
    cases: ["plugin_read_returns_invalid_request_when_plugin_manifest_is_missing"],
    checks: "read when the plugin dir exists without manifest (and when the dir is absent): -32600",
    setup: [
      config(FEATURES_ON),
      git("repo"),
      dir("repo/plugins/demo-plugin"),
      marketplace("repo", "codex-curated", [local("demo-plugin", "./plugins/demo-plugin"), local("absent-plugin", "./plugins/absent-plugin")])
    ],
    steps: [read(mp("repo"), "demo-plugin"), read(mp("repo"), "absent-plugin")],
    expect: [{ step: 0, error: { code: -32600, messageIncludes: ["missing or invalid .codex-plugin/plugin.json"] } }]
  },
  {
    name: "read-legacy-string-default-prompt",
    cases: ["plugin_read_accepts_legacy_string_default_prompt"],
    checks: "read: single-string defaultPrompt becomes a one-item list",
    setup: [
      git("repo"),
      marketplace("repo", "codex-curated", [local("demo-plugin", "./plugins/demo-plugin")]),
      manifest("repo/plugins/demo-plugin", { name: "demo-plugin", interface: { defaultPrompt: "Starter prompt for trying a plugin" } }),
      config(FEATURES_ON)
    ],
    steps: [read(mp("repo"), "demo-plugin")],
    expect: [{ step: 0, resultIncludes: ["\"defaultPrompt\":[\"Starter prompt for trying a plugin\"]"] }]
  },
  {
    name: "read-custom-component-paths",
    cases: ["load_plugins_uses_manifest_configured_component_paths"],
    checks: "manifest skills/mcpServers/apps paths: custom + default skills, custom MCP and apps files instead of the defaults",
    setup: [
      git("repo"),
      marketplace("repo", "test", [local("sample", "./sample")]),
      manifest("repo/sample", { name: "sample", skills: "./custom-skills/", mcpServers: "./config/custom.mcp.json", apps: "./config/custom.app.json" }),
      text("repo/sample/skills/default-skill/SKILL.md", "---\nname: default-skill\ndescription: default skill\n---\n"),
      text("repo/sample/custom-skills/custom-skill/SKILL.md", "---\nname: custom-skill\ndescription: custom skill\n---\n"),
      json("repo/sample/.mcp.json", { mcpServers: { default: { type: "http", url: "https://default.example/mcp" } } }),
      json("repo/sample/config/custom.mcp.json", { mcpServers: { custom: { type: "http", url: "https://custom.example/mcp" } } }),
      json("repo/sample/.app.json", { apps: { default: { id: "connector_default" } } }),
      json("repo/sample/config/custom.app.json", { apps: { custom: { id: "connector_custom" } } })
    ],
    steps: [read(mp("repo"), "sample")]
  },
  {
    name: "read-component-paths-without-dot-slash",
    cases: ["load_plugins_ignores_manifest_component_paths_without_dot_slash"],
    checks: "manifest component paths without `./` are ignored and the defaults are used",
    setup: [
      git("repo"),
      marketplace("repo", "test", [local("sample", "./sample")]),
      manifest("repo/sample", { name: "sample", skills: "custom-skills", mcpServers: "config/custom.mcp.json", apps: "config/custom.app.json" }),
      text("repo/sample/skills/default-skill/SKILL.md", "---\nname: default-skill\ndescription: default skill\n---\n"),
      text("repo/sample/custom-skills/custom-skill/SKILL.md", "---\nname: custom-skill\ndescription: custom skill\n---\n"),
      json("repo/sample/.mcp.json", { mcpServers: { default: { type: "http", url: "https://default.example/mcp" } } }),
      json("repo/sample/config/custom.mcp.json", { mcpServers: { custom: { type: "http", url: "https://custom.example/mcp" } } }),
      json("repo/sample/.app.json", { apps: { default: { id: "connector_default" } } }),
      json("repo/sample/config/custom.app.json", { apps: { custom: { id: "connector_custom" } } })
    ],
    steps: [read(mp("repo"), "sample")]
  },
  {
    name: "read-skills-mcp-apps-details",
    cases: ["load_plugins_loads_default_skills_and_mcp_servers", "effective_apps_dedupes_connector_ids_across_plugins"],
    checks: "several skills (nested, bad frontmatter, no description, metadata), several MCP servers (unsorted, types, oauth), apps sorted/deduped/blank ids",
    setup: [
      git("repo"),
      marketplace("repo", "test", [local("sample", "./sample"), local("broken-files", "./broken-files")]),
      manifest("repo/sample", { name: "sample", description: "  Plugin   with\nspaces  " }),
      text("repo/sample/skills/zeta/SKILL.md", "---\nname: zeta\ndescription: Zeta skill\nmetadata:\n  short-description: Z short\n---\n"),
      text("repo/sample/skills/alpha/SKILL.md", "---\nname: alpha\ndescription: Alpha skill\n---\nbody\n"),
      text("repo/sample/skills/group/inner/SKILL.md", "---\nname: inner\ndescription: Nested skill\n---\n"),
      text("repo/sample/skills/no-desc/SKILL.md", "---\nname: no-desc\n---\n"),
      text("repo/sample/skills/no-frontmatter/SKILL.md", "# just markdown\n"),
      text("repo/sample/skills/renamed-dir/SKILL.md", "---\nname: other-name\ndescription: name differs from dir\n---\n"),
      json("repo/sample/.mcp.json", {
        mcpServers: {
          zeta: { command: "z" },
          alpha: { type: "http", url: "https://sample.example/mcp", oauth: { clientId: "client-id", callbackPort: 3118 } },
          mid: { type: "weird", command: "m" },
          bad: { nothing: true }
        }
      }),
      json("repo/sample/.app.json", { apps: { b: { id: "connector_b" }, a: { id: "connector_a" }, dup: { id: "connector_b" }, blank: { id: "" } } }),
      manifest("repo/broken-files", { name: "broken-files" }),
      text("repo/broken-files/.mcp.json", "{not json"),
      text("repo/broken-files/.app.json", "[]")
    ],
    steps: [read(mp("repo"), "sample"), read(mp("repo"), "broken-files")]
  },
  {
    name: "read-installed-plugin-source-vs-cache",
    cases: [],
    checks: "for an installed plugin whose cache differs from its source, plugin/read and plugin/list describe the marketplace source dir, not the cache",
    setup: [
      config("[features]\nplugins = true\n\n[plugins.\"sample@test\"]\nenabled = true\n"),
      git("repo"),
      marketplace("repo", "test", [local("sample", "./sample")]),
      manifest("repo/sample", { name: "sample", description: "from source", interface: { displayName: "Source" } }),
      text("repo/sample/skills/source-skill/SKILL.md", "---\nname: source-skill\ndescription: in source\n---\n"),
      cached("test", "sample", "local", { name: "sample", description: "from cache", interface: { displayName: "Cache" } }),
      text("home/plugins/cache/test/sample/local/skills/cache-skill/SKILL.md", "---\nname: cache-skill\ndescription: in cache\n---\n"),
      json("home/plugins/cache/test/sample/local/.mcp.json", { mcpServers: { "cache-mcp": { command: "c" } } })
    ],
    steps: [read(mp("repo"), "sample"), list(["repo"])]
  },
  {
    name: "read-invalid-marketplace-and-state",
    cases: ["load_plugins_preserves_disabled_plugins_without_effective_contributions"],
    checks: "read of a disabled installed plugin still lists its skills/MCP servers; a manifest that is JSON but not an object (`[]`) reads as empty",
    setup: [
      config("[features]\nplugins = true\n\n[plugins.\"sample@test\"]\nenabled = false\n"),
      git("repo"),
      marketplace("repo", "test", [local("sample", "./sample"), local("broken", "./broken")]),
      manifest("repo/sample", { name: "sample", description: "disabled one" }),
      text("repo/sample/skills/s/SKILL.md", "---\nname: s\ndescription: skill\n---\n"),
      json("repo/sample/.mcp.json", { mcpServers: { m: { command: "m" } } }),
      cached("test", "sample"),
      text("repo/broken/.codex-plugin/plugin.json", "[]")
    ],
    steps: [read(mp("repo"), "sample"), read(mp("repo"), "broken")]
  }
]

export const scenarios: ReadonlyArray<Scenario> = [...protocol, ...listing, ...installing, ...uninstalling, ...reading]
