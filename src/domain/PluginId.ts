import { Result, Schema } from "effect"

/** Which half of a `<plugin>@<marketplace>` key a segment is; it is quoted in the error text. */
export type SegmentKind = "plugin name" | "marketplace name"

const SEGMENT = /^[A-Za-z0-9_-]+$/

/**
 * A validated `<plugin>@<marketplace>` key. Both segments are non-empty and made of ASCII letters, digits, `_`
 * and `-` only (codex `validate_plugin_segment`), so the key contains exactly one `@`.
 */
const PLUGIN_ID = /^[A-Za-z0-9_-]+@[A-Za-z0-9_-]+$/

export const PluginId = Schema.String.check(Schema.isPattern(PLUGIN_ID)).pipe(
  Schema.brand("PluginId")
)
export type PluginId = typeof PluginId.Type

/**
 * Whether `parsePluginId(key)` succeeds, without building the parts or an error: the hand-edit check asks it of
 * every `[plugins]` table after every event.
 */
export const isValidPluginId = (key: string): boolean => PLUGIN_ID.test(key)

export interface PluginIdParts {
  readonly id: PluginId
  readonly pluginName: string
  readonly marketplaceName: string
}

/** The reason a key or a name pair is not a valid plugin id; `message` is the reference's exact text. */
export class PluginIdError extends Schema.TaggedError<PluginIdError>()("PluginIdError", {
  message: Schema.String
}) {}

/** Checks one segment; fails with the bare reference text (no ` in `key`` suffix). */
export const validateSegment = (kind: SegmentKind, value: string): Result.Result<string, string> => {
  if (value.length === 0) return Result.fail(`invalid ${kind}: must not be empty`)
  if (!SEGMENT.test(value)) {
    return Result.fail(`invalid ${kind}: only ASCII letters, digits, \`_\`, and \`-\` are allowed`)
  }
  return Result.succeed(value)
}

/** The key as the listing prints it: `{plugin}@{marketplace}`, with no validation (names are not checked there). */
export const pluginKey = (pluginName: string, marketplaceName: string): string => `${pluginName}@${marketplaceName}`

const decodePluginId = Schema.decodeUnknownResult(PluginId)

const build = (pluginName: string, marketplaceName: string, suffix: string): Result.Result<PluginIdParts, PluginIdError> => {
  for (const [kind, value] of [["plugin name", pluginName], ["marketplace name", marketplaceName]] as const) {
    const checked = validateSegment(kind, value)
    if (Result.isFailure(checked)) return Result.fail(new PluginIdError({ message: `${checked.failure}${suffix}` }))
  }
  // the decoder made once, and no `pipe`: this runs per command, in code not yet optimised
  const id = decodePluginId(pluginKey(pluginName, marketplaceName))
  return Result.isSuccess(id)
    ? Result.succeed({ id: id.success, pluginName, marketplaceName })
    : Result.fail(new PluginIdError({ message: id.failure.message }))
}

/**
 * `PluginId::new(plugin, marketplace)`: the plugin name is checked first, then the marketplace name; errors carry
 * no key suffix. Used at install time (binary: -32600 `invalid marketplace name: must not be empty`).
 */
export const makePluginId = (pluginName: string, marketplaceName: string): Result.Result<PluginIdParts, PluginIdError> =>
  build(pluginName, marketplaceName, "")

/**
 * `PluginId::parse(key)`: split at the LAST `@`; a missing `@` or an empty side gives
 * `invalid plugin key `{key}`; expected <plugin>@<marketplace>`; segment errors get ` in `{key}`` appended.
 */
export const parsePluginId = (key: string): Result.Result<PluginIdParts, PluginIdError> => {
  const at = key.lastIndexOf("@")
  const pluginName = at < 0 ? "" : key.slice(0, at)
  const marketplaceName = at < 0 ? "" : key.slice(at + 1)
  if (pluginName.length === 0 || marketplaceName.length === 0) {
    return Result.fail(
      new PluginIdError({ message: `invalid plugin key \`${key}\`; expected <plugin>@<marketplace>` })
    )
  }
  return build(pluginName, marketplaceName, ` in \`${key}\``)
}
