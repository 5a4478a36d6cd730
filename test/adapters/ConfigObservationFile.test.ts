import { assert, describe, it } from "@effect/vitest"
import { createHash } from "node:crypto"
import { observeConfigBytes } from "../../src/adapters/ConfigObservationFile.ts"

const sha256 = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex")

describe("observeConfigBytes", () => {
  it("hashes the bytes it is given, whatever was observed before (the last hash is remembered)", () => {
    const a = Buffer.from("[plugins.\"a@m\"]\nenabled = true\n")
    const b = Buffer.from("[plugins.\"b@m\"]\nenabled = false\n")
    for (const bytes of [a, a, b, a, Buffer.from(a)]) {
      assert.strictEqual(observeConfigBytes(bytes, "/c/config.toml").hash, sha256(bytes))
    }
    // the caller's buffer changed in place after it was observed: the new bytes are hashed, not the remembered ones
    const owned = Buffer.from(a)
    observeConfigBytes(b, "/c/config.toml")
    observeConfigBytes(owned, "/c/config.toml")
    owned.write("b", 10)
    assert.strictEqual(observeConfigBytes(owned, "/c/config.toml").hash, sha256(owned))
    assert.notStrictEqual(sha256(owned), sha256(a))
  })
})
