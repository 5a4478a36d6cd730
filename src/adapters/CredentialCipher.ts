/**
 * Process-plugin secrets at rest: AES-256-GCM with a random 96-bit nonce per write. The key comes from
 * `PLUGIN_LEDGER_CREDENTIALS_KEY` (base64 of 32 bytes) or from a key file created on first use with mode 0600.
 * One sealed file per plugin; writes are atomic. Values are never logged.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto"
import * as Path from "node:path"
import { Data } from "effect"
import { fsyncDir, writeFileAtomic } from "./AtomicFile.ts"
import { errnoCode, type FsPort } from "./FsPort.ts"

export const KEY_ENV = "PLUGIN_LEDGER_CREDENTIALS_KEY"

export class CredentialError extends Data.TaggedError("CredentialError")<{ readonly message: string }> {}

/** What is sealed for one plugin: its credentials and the values of its secret environment variables. */
export interface SealedSecrets {
  readonly credentials: Readonly<Record<string, unknown>>
  readonly env: Readonly<Record<string, string>>
}

const decodeKey = (text: string, where: string): Buffer => {
  const key = Buffer.from(text.trim(), "base64")
  if (key.length !== 32) throw new CredentialError({ message: `the credentials key in ${where} must be base64 of 32 bytes, got ${key.length} bytes` })
  return key
}

/** The key: from the environment, else the key file (created 0600 with a fresh random key when absent). */
export const loadKey = (fs: FsPort, keyFile: string, env: NodeJS.ProcessEnv = process.env): Buffer => {
  const fromEnv = env[KEY_ENV]
  if (fromEnv !== undefined && fromEnv !== "") return decodeKey(fromEnv, KEY_ENV)
  try {
    return decodeKey(fs.readFileSync(keyFile).toString("utf8"), keyFile)
  } catch (error) {
    if (errnoCode(error) !== "ENOENT") throw error
  }
  fs.mkdirSync(Path.dirname(keyFile), { recursive: true })
  const key = randomBytes(32)
  const fd = fs.openSync(keyFile, "wx", 0o600)
  try {
    fs.writeSync(fd, Buffer.from(`${key.toString("base64")}\n`), 0, 45, 0)
    fs.fsyncSync(fd)
  } finally {
    fs.closeSync(fd)
  }
  fsyncDir(fs, Path.dirname(keyFile))
  return key
}

export const seal = (key: Buffer, plain: SealedSecrets): Buffer => {
  const iv = randomBytes(12)
  const cipher = createCipheriv("aes-256-gcm", key, iv)
  const data = Buffer.concat([cipher.update(JSON.stringify(plain), "utf8"), cipher.final()])
  const sealed = { v: 1, alg: "aes-256-gcm", iv: iv.toString("base64"), tag: cipher.getAuthTag().toString("base64"), data: data.toString("base64") }
  return Buffer.from(`${JSON.stringify(sealed)}\n`)
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

export const unseal = (key: Buffer, bytes: Buffer): SealedSecrets => {
  try {
    const sealed: unknown = JSON.parse(bytes.toString("utf8"))
    if (!isRecord(sealed)) throw new Error("not an object")
    const field = (name: string) => Buffer.from(String(sealed[name]), "base64")
    const decipher = createDecipheriv("aes-256-gcm", key, field("iv"))
    decipher.setAuthTag(field("tag"))
    const plain: unknown = JSON.parse(Buffer.concat([decipher.update(field("data")), decipher.final()]).toString("utf8"))
    if (!isRecord(plain) || !isRecord(plain["credentials"]) || !isRecord(plain["env"])) throw new Error("unexpected content")
    const env: Record<string, string> = {}
    for (const [k, v] of Object.entries(plain["env"])) if (typeof v === "string") env[k] = v
    return { credentials: plain["credentials"], env }
  } catch {
    throw new CredentialError({ message: "the sealed credentials cannot be decrypted (wrong key or corrupted file)" })
  }
}

/** The sealed file store of one ledger: `<dir>/<plugin>.sealed.json`. */
export const makeSecretStore = (fs: FsPort, dir: string, keyFile: string, env: NodeJS.ProcessEnv = process.env) => {
  let key: Buffer | undefined
  const theKey = () => (key ??= loadKey(fs, keyFile, env))
  const fileOf = (plugin: string) => Path.join(dir, `${plugin}.sealed.json`)
  return {
    read: (plugin: string): SealedSecrets => {
      let bytes: Buffer
      try {
        bytes = fs.readFileSync(fileOf(plugin))
      } catch (error) {
        if (errnoCode(error) === "ENOENT") return { credentials: {}, env: {} }
        throw error
      }
      return unseal(theKey(), bytes)
    },
    /** seals and writes atomically; returns a fingerprint of the sealed bytes (not of the secrets) */
    write: (plugin: string, secrets: SealedSecrets): string => {
      const bytes = seal(theKey(), secrets)
      fs.mkdirSync(dir, { recursive: true })
      writeFileAtomic(fs, fileOf(plugin), bytes, 0o600)
      return `sha256:${createHash("sha256").update(bytes).digest("hex").slice(0, 16)}`
    },
    remove: (plugin: string): void => {
      try {
        fs.unlinkSync(fileOf(plugin))
      } catch (error) {
        if (errnoCode(error) !== "ENOENT") throw error
      }
    }
  }
}
export type SecretStore = ReturnType<typeof makeSecretStore>
