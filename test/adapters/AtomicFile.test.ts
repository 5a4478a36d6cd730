import { spawnSync } from "node:child_process"
import * as NodeFs from "node:fs"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { fsyncDir, ownerAlive, pidSuffix, retireLink, sweepRetired, unlinkRetired, writeAll, writeFileAtomic } from "../../src/adapters/AtomicFile.ts"
import { type FsPort, nodeFs } from "../../src/adapters/FsPort.ts"
import { withTempDir } from "./fixtures/testkit.ts"

/** nodeFs that records the calls made through it. */
const recording = (overrides: Partial<FsPort> = {}) => {
  const calls: Array<string> = []
  const fs: FsPort = {
    ...nodeFs,
    openSync: (path, flags, mode) => {
      calls.push(`open ${Path.basename(path)} ${flags}`)
      return nodeFs.openSync(path, flags, mode)
    },
    fsyncSync: (fd) => {
      calls.push("fsync")
      nodeFs.fsyncSync(fd)
    },
    renameSync: (from, to) => {
      calls.push(`rename ${Path.basename(to)}`)
      nodeFs.renameSync(from, to)
    },
    ...overrides
  }
  return { fs, calls }
}

describe("AtomicFile", () => {
  it("writes the bytes, replaces an existing file, leaves no temp file", () =>
    withTempDir((dir) => {
      const target = Path.join(dir, "config.toml")
      NodeFs.writeFileSync(target, "old")
      const { fs, calls } = recording()
      writeFileAtomic(fs, target, Buffer.from("new contents"), 0o600)
      assert.strictEqual(NodeFs.readFileSync(target, "utf8"), "new contents")
      assert.deepStrictEqual(NodeFs.readdirSync(dir), ["config.toml"])
      assert.strictEqual(NodeFs.statSync(target).mode & 0o777, 0o600)
      // temp file in the same dir, fsynced before the rename, then the directory fsynced
      assert.match(calls[0] ?? "", /^open \.config\.toml\.tmp-\d+-[0-9a-f]{12} wx$/)
      assert.deepStrictEqual(calls.slice(1), ["fsync", "rename config.toml", `open ${Path.basename(dir)} r`, "fsync"])
    }))

  it("loops on short writes", () =>
    withTempDir((dir) => {
      const target = Path.join(dir, "blob")
      const fs: FsPort = {
        ...nodeFs,
        writeSync: (fd, buffer, offset, length, position) => nodeFs.writeSync(fd, buffer, offset, Math.min(length, 3), position)
      }
      writeFileAtomic(fs, target, Buffer.from("0123456789abcdef"))
      assert.strictEqual(NodeFs.readFileSync(target, "utf8"), "0123456789abcdef")
    }))

  it("a write that makes no progress fails instead of spinning", () =>
    withTempDir((dir) => {
      const fs: FsPort = { ...nodeFs, writeSync: () => 0 }
      const fd = NodeFs.openSync(Path.join(dir, "f"), "w")
      try {
        assert.throws(() => writeAll(fs, fd, Buffer.from("abc"), 0), /no progress/)
      } finally {
        NodeFs.closeSync(fd)
      }
    }))

  it("on failure keeps the old file and removes the temp file", () =>
    withTempDir((dir) => {
      const target = Path.join(dir, "state.json")
      NodeFs.writeFileSync(target, "old")
      const eio = Object.assign(new Error("EIO: i/o error, fsync"), { code: "EIO" })
      const { fs } = recording({ fsyncSync: () => { throw eio } })
      assert.throws(() => writeFileAtomic(fs, target, Buffer.from("new")), /EIO/)
      assert.strictEqual(NodeFs.readFileSync(target, "utf8"), "old")
      assert.deepStrictEqual(NodeFs.readdirSync(dir), ["state.json"])
    }))

  it("fsyncDir fails closed on a non-Windows directory fsync error", () =>
    withTempDir((dir) => {
      const eperm = Object.assign(new Error("EPERM"), { code: "EPERM" })
      const fs: FsPort = { ...nodeFs, fsyncSync: () => { throw eperm } }
      if (process.platform === "win32") fsyncDir(fs, dir)
      else assert.throws(() => fsyncDir(fs, dir), /EPERM/)
    }))
})

describe("pidSuffix", () => {
  it("names this process, is unique within it, and keeps the `<pid>-<12 hex>` shape the sweeps read", () => {
    const names = Array.from({ length: 1000 }, () => pidSuffix())
    assert.strictEqual(new Set(names).size, names.length)
    for (const name of names) {
      assert.match(name, new RegExp(`^${process.pid}-[0-9a-f]{12}$`))
      assert.isTrue(ownerAlive(`.staging-p-${name}`))
    }
  })

  it("differs between processes (the count starts at a random point in each)", () => {
    const script = `import { pidSuffix } from ${JSON.stringify(Path.resolve("src/adapters/AtomicFile.ts"))}; console.log(pidSuffix())`
    const run = () => spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" }).stdout.trim().split("-")[1]
    const first = run()
    const second = run()
    assert.match(first ?? "", /^[0-9a-f]{12}$/)
    assert.notStrictEqual(first, second)
  })
})

describe("retireLink", () => {
  it("keeps the old file under a second name past a rename over it, until unlinkRetired", () =>
    withTempDir((dir) => {
      const target = Path.join(dir, "config.toml")
      const retired = Path.join(dir, "ledger", "retired")
      NodeFs.writeFileSync(target, "old")
      const link = retireLink(nodeFs, target, retired)
      assert.isDefined(link)
      NodeFs.writeFileSync(Path.join(dir, "tmp"), "new")
      NodeFs.renameSync(Path.join(dir, "tmp"), target)
      assert.strictEqual(NodeFs.readFileSync(target, "utf8"), "new")
      assert.strictEqual(NodeFs.readFileSync(link ?? "", "utf8"), "old", "the old inode is still linked")
      assert.match(Path.basename(link ?? ""), new RegExp(`^config\\.toml-${process.pid}-[0-9a-f]{12}$`))
      unlinkRetired(nodeFs, [link ?? ""])
      assert.deepStrictEqual(NodeFs.readdirSync(retired), [])
    }))

  it("gives nothing when there is no file to keep (a rename to a new name frees nothing)", () =>
    withTempDir((dir) => {
      assert.isUndefined(retireLink(nodeFs, Path.join(dir, "config.toml"), Path.join(dir, "retired")))
    }))

  it("sweepRetired removes the links of processes that are gone and keeps those of live ones", () =>
    withTempDir((dir) => {
      const dead = spawnSync(process.execPath, ["-e", ""]).pid
      NodeFs.writeFileSync(Path.join(dir, `config.toml-${dead}-0123456789ab`), "")
      NodeFs.writeFileSync(Path.join(dir, `config.toml-${process.pid}-0123456789ab`), "")
      sweepRetired(nodeFs, dir)
      assert.deepStrictEqual(NodeFs.readdirSync(dir), [`config.toml-${process.pid}-0123456789ab`])
    }))
})
