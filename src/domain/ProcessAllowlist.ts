/**
 * Which commands a process plugin may run: `node`, `npx` and `python3` by name, or an absolute path whose real
 * path (symlinks resolved by the caller) lies under one of the configured plugin folders. Pure.
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
