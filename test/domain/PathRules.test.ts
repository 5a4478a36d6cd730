import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import * as fc from "fast-check"
import {
  basename,
  checkPluginSourcePath,
  comparePaths,
  components,
  dirname,
  isAbsolute,
  isNormal,
  isWithin,
  join,
  normalize,
  resolveManifestPath,
  resolvePluginSourcePath
} from "../../src/domain/PathRules.ts"

const tags = (path: string) => components(path).map((c) => (c._tag === "Normal" ? c.name : c._tag))

/** The normalisation spelled out component by component (what `normalize` did before its shortcut). */
const normalizeByComponents = (path: string): string => {
  const absolute = path.startsWith("/")
  const stack: Array<string> = []
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue
    if (part === "..") {
      if (stack.length > 0 && stack[stack.length - 1] !== "..") stack.pop()
      else if (!absolute) stack.push("..")
      continue
    }
    stack.push(part)
  }
  const body = stack.join("/")
  return absolute ? `/${body}` : body.length === 0 ? "." : body
}
/** Paths of awkward components: empty, `.`, `..`, names that merely start or end with dots. */
const awkwardPath = fc.tuple(
  fc.boolean(),
  fc.array(fc.constantFrom("", ".", "..", "...", "a", "b", ".a", "a.", "..b", "é"), { maxLength: 6 })
).map(([absolute, parts]) => `${absolute ? "/" : ""}${parts.join("/")}`)

describe("POSIX helpers", () => {
  it("components follow Rust Path::components", () => {
    assert.deepStrictEqual(tags("./x"), ["CurDir", "x"])
    assert.deepStrictEqual(tags("."), ["CurDir"])
    assert.deepStrictEqual(tags("a/./b/"), ["a", "b"])
    assert.deepStrictEqual(tags("/x//y"), ["RootDir", "x", "y"])
    assert.deepStrictEqual(tags("a/../b"), ["a", "ParentDir", "b"])
    assert.deepStrictEqual(tags(""), [])
  })
  it("normalize, join, dirname, basename", () => {
    assert.strictEqual(normalize("/t/repo-b/../repo-b/./"), "/t/repo-b")
    assert.strictEqual(normalize("/.."), "/")
    assert.strictEqual(normalize("a/../../b"), "../b")
    assert.strictEqual(join("/r", "a", "./b", "../c"), "/r/a/c")
    assert.strictEqual(join("/r", "/abs"), "/abs")
    assert.strictEqual(dirname("/a/b/"), "/a")
    assert.strictEqual(basename("/a/b/"), "b")
    assert.isTrue(isAbsolute("/a"))
    assert.isFalse(isAbsolute("a"))
  })
  it("property: a path normalize leaves alone is one the component-wise normalisation leaves alone", () => {
    fc.assert(
      fc.property(awkwardPath, (path) => {
        assert.strictEqual(normalize(path), normalizeByComponents(path), path)
        // `isNormal` may miss a path that is normal (`.`), never the other way round
        if (isNormal(path)) assert.strictEqual(path, normalizeByComponents(path), path)
      }),
      { numRuns: 2_000 }
    )
    for (const path of ["/", "/a", "a/b", ".a", "a..", "/a/...b"]) assert.isTrue(isNormal(path), path)
    for (const path of ["", "/a/", "a//b", "/a/./b", "a/..", "./a", "/.."]) assert.isFalse(isNormal(path), path)
  })
  it("isWithin compares whole components", () => {
    assert.isTrue(isWithin("/r/p", "/r/p"))
    assert.isTrue(isWithin("/r/p", "/r/p/x"))
    assert.isFalse(isWithin("/r/p", "/r/px"))
    assert.isFalse(isWithin("/r/p", "/r/p/../q"))
  })
  it("comparePaths orders like Rust (binary listed roots X, x/y, x-y, x.y, é)", () => {
    const roots = ["/t/é", "/t/x.y", "/t/x-y", "/t/x/y", "/t/X"]
    assert.deepStrictEqual([...roots].sort(comparePaths), ["/t/X", "/t/x/y", "/t/x-y", "/t/x.y", "/t/é"])
  })
})

describe("resolveManifestPath", () => {
  const root = "/r/plugins/p"
  // warnings logged by codex 0.116.0 for `skills` with these values (the same texts for every path field)
  const cases: ReadonlyArray<readonly [string, { readonly path?: string; readonly warning?: string }]> = [
    ["", {}],
    ["x", { warning: "ignoring skills: path must start with `./` relative to plugin root" }],
    ["/abs", { warning: "ignoring skills: path must start with `./` relative to plugin root" }],
    [".", { warning: "ignoring skills: path must start with `./` relative to plugin root" }],
    [".\\x", { warning: "ignoring skills: path must start with `./` relative to plugin root" }],
    ["./", { warning: "ignoring skills: path must not be `./`" }],
    ["./../x", { warning: "ignoring skills: path must not contain '..'" }],
    ["./a/../b", { warning: "ignoring skills: path must not contain '..'" }],
    ["./a/..", { warning: "ignoring skills: path must not contain '..'" }],
    [".//x", { warning: "ignoring skills: path must stay within the plugin root" }],
    ["./.", { warning: "ignoring skills: path must stay within the plugin root" }],
    ["././x", { warning: "ignoring skills: path must stay within the plugin root" }],
    ["./a/./b", { path: "/r/plugins/p/a/b" }],
    ["./x/", { path: "/r/plugins/p/x" }],
    ["./x//y", { path: "/r/plugins/p/x/y" }],
    ["./~/x", { path: "/r/plugins/p/~/x" }],
    ["./.hidden", { path: "/r/plugins/p/.hidden" }],
    ["./...", { path: "/r/plugins/p/..." }]
  ]
  for (const [value, expected] of cases) {
    it(`given ${JSON.stringify(value)} then ${JSON.stringify(expected)}`, () => {
      assert.deepStrictEqual(resolveManifestPath(root, "skills", value), expected)
    })
  }
  it("given no value then nothing and no warning", () => {
    assert.deepStrictEqual(resolveManifestPath(root, "apps", undefined), {})
    assert.deepStrictEqual(resolveManifestPath(root, "apps", null), {})
  })
  it("names the field as given (screenshots carry no index)", () => {
    assert.deepStrictEqual(resolveManifestPath(root, "interface.screenshots", "bad"), {
      warning: "ignoring interface.screenshots: path must start with `./` relative to plugin root"
    })
  })
})

describe("checkPluginSourcePath", () => {
  it("property: the names are the path's normal components whichever way they are found", () => {
    fc.assert(
      fc.property(awkwardPath, (path) => {
        const names = checkPluginSourcePath(`./${path}`)
        const parts = components(path)
        const expected = path.length === 0
          ? Result.fail("local plugin source path must not be empty")
          : parts.every((c) => c._tag === "Normal")
          ? Result.succeed(parts.map((c) => (c._tag === "Normal" ? c.name : "")))
          : Result.fail("local plugin source path must stay within the marketplace root")
        assert.deepStrictEqual(names, expected, path)
      }),
      { numRuns: 2_000 }
    )
  })
})

describe("resolvePluginSourcePath", () => {
  const fail = (p: string) => {
    const r = checkPluginSourcePath(p)
    return Result.isFailure(r) ? r.failure : "ok"
  }
  // `invalid marketplace file `…`: {this}` from plugin/list and plugin/read on 0.116.0
  it("given a path without ./ then it must start with ./ (absolute paths too)", () => {
    assert.strictEqual(fail("x"), "local plugin source path must start with `./`")
    assert.strictEqual(fail("/abs/x"), "local plugin source path must start with `./`")
  })
  it("given ./ then it must not be empty", () => {
    assert.strictEqual(fail("./"), "local plugin source path must not be empty")
  })
  it("given any non-normal component then it must stay within the marketplace root", () => {
    for (const p of ["./../x", "./a/..", ".//x", "././x", "./."]) {
      assert.strictEqual(fail(p), "local plugin source path must stay within the marketplace root")
    }
  })
  it("given a good path then it is joined to the marketplace root, not to .agents/plugins", () => {
    assert.deepStrictEqual(resolvePluginSourcePath("/repo", "./plugins/a/./b/"), Result.succeed("/repo/plugins/a/b"))
  })
})
