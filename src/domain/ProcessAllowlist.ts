/**
 * What a process-plugin registration may contain. Commands: `node`, `npx` and `python3` by name, or an absolute path
 * whose real path (symlinks resolved by the caller) lies under one of the configured plugin folders. Names: the
 * reference's rule. Environment: no variable that changes how the interpreter or loader runs; secret-looking ones
 * are sealed instead of logged. Pure.
 */
import * as Path from "node:path"

export const ALLOWED_COMMANDS: ReadonlyArray<string> = ["node", "npx", "python3"]

export type CommandCheck =
  | { readonly _tag: "Allowed"; readonly command: string }
  | { readonly _tag: "Refused"; readonly message: string }

const under = (file: string, folder: string): boolean => {
  const relative = Path.relative(folder, file)
  return relative !== "" && !relative.startsWith("..") && !Path.isAbsolute(relative)
}

/**
 * `realPath` is the command's canonical path (undefined when it does not exist); `folders` are canonical too.
 * Relative paths and other names are refused, with the allowlist in the message.
 */
export const checkCommand = (
  command: string,
  realPath: string | undefined,
  folders: ReadonlyArray<string>
): CommandCheck => {
  const allowed = `allowed: ${ALLOWED_COMMANDS.join(", ")}, or an absolute path under ${
    folders.length === 0 ? "a configured plugin folder (none configured)" : folders.join(", ")
  }`
  if (ALLOWED_COMMANDS.includes(command)) return { _tag: "Allowed", command }
  if (!Path.isAbsolute(command)) return { _tag: "Refused", message: `command \`${command}\` is not in the plugin allowlist (${allowed})` }
  if (realPath === undefined) return { _tag: "Refused", message: `command \`${command}\` does not exist` }
  const folder = folders.find((f) => under(realPath, f))
  if (folder === undefined) {
    const shown = realPath === command ? "" : ` (it resolves to ${realPath})`
    return { _tag: "Refused", message: `command \`${command}\`${shown} is not under an allowed plugin folder (${allowed})` }
  }
  return { _tag: "Allowed", command: realPath }
}

/** The admin-entered name rule of the reference: 1-100 of [a-z0-9-], not starting or ending with '-'. */
export const checkName = (name: string): string | undefined =>
  /^[a-z0-9](?:[a-z0-9-]{0,98}[a-z0-9])?$/.test(name)
    ? undefined
    : `invalid process plugin name \`${name}\`: use 1-100 lowercase letters, digits and hyphens, not starting or ending with a hyphen`

/** Variables a plugin may not set: they change how the interpreter or the loader runs (the reference's list). */
const blockedEnv: ReadonlySet<string> = new Set([
  "LD_LIBRARY_PATH", "LD_PRELOAD", "LD_AUDIT", "LD_DEBUG", "LD_PROFILE", "LD_DEBUG_OUTPUT", "DYLD_LIBRARY_PATH",
  "DYLD_INSERT_LIBRARIES", "DYLD_FALLBACK_LIBRARY_PATH", "PATH", "IFS", "HOME", "USER", "LOGNAME", "USERNAME", "SHELL",
  "BASH_ENV", "ENV", "CDPATH", "PROMPT_COMMAND", "PYTHONPATH", "PYTHONSTARTUP", "PYTHONHOME", "NODE_PATH",
  "NODE_OPTIONS", "NODE_EXTRA_CA_CERTS", "RUBYLIB", "RUBYOPT", "PERL5LIB", "PERL5OPT", "MALLOC_CHECK_", "MALLOC_PERTURB_",
  "GIT_SSH", "GIT_SSH_COMMAND", "SSH_AUTH_SOCK", "SSH_ASKPASS", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY",
  "LC_ALL", "LANG", "NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID"
])

export const checkEnvKey = (key: string): string | undefined => {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) return `invalid environment variable name \`${key}\``
  if (blockedEnv.has(key.toUpperCase())) return `environment variable \`${key}\` may not be set for a plugin (it changes how the interpreter or loader runs)`
  return undefined
}

/** Variables whose values are kept sealed with the credentials instead of in the log. */
export const isSecretEnvKey = (key: string): boolean => /KEY|SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIAL|AUTH|BEARER|COOKIE|SESSION/i.test(key)
