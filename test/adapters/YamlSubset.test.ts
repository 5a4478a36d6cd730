import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import { parseYaml } from "../../src/adapters/YamlSubset.ts"

const failure = (text: string): string => {
  const parsed = parseYaml(text)
  return Result.isFailure(parsed) ? parsed.failure : assert.fail(`parsed: ${JSON.stringify(parsed.success).slice(0, 200)}`)
}

describe("YamlSubset: documents it cannot read fail with a message, never a throw", () => {
  it("a tab in the indentation", () => {
    assert.strictEqual(failure("interface:\n\tdisplay_name: x\n"), "found a tab character that violates indentation")
  })

  it("nesting deeper than serde_yaml's 128 levels, in flow and block style, instead of exhausting the stack", () => {
    assert.strictEqual(failure(`a: ${"[".repeat(100_000)}${"]".repeat(100_000)}\n`), "recursion limit exceeded")
    assert.strictEqual(failure(`a: ${"{b: ".repeat(5_000)}1${"}".repeat(5_000)}\n`), "recursion limit exceeded")
    const block = Array.from({ length: 10_000 }, (_, n) => `${" ".repeat(n)}k${n}:`).join("\n")
    assert.strictEqual(failure(`${block} x\n`), "recursion limit exceeded")
    // 128 levels are still read
    const ok = parseYaml(`a: ${"[".repeat(127)}x${"]".repeat(127)}\n`)
    assert.isTrue(Result.isSuccess(ok))
  })
})
