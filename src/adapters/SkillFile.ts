/** A skill of a plugin as `plugin/read` reports it: SKILL.md frontmatter plus its `agents/openai.yaml` interface. */
import { Result, Schema } from "effect"
import { charCount, collapseWhitespace, trimWhitespace } from "../domain/Manifest.ts"
import { basename, components, join } from "../domain/PathRules.ts"
import { extractFrontmatter, parseYaml } from "./YamlSubset.ts"

/** Wire `SkillInterface` (from `<skill>/agents/openai.yaml`), keys in the binary's order. */
export interface SkillInterface {
  readonly displayName: string | null
  readonly shortDescription: string | null
  readonly iconSmall: string | null
  readonly iconLarge: string | null
  readonly brandColor: string | null
  readonly defaultPrompt: string | null
}

/** Wire `SkillSummary` as `plugin/read` prints it. */
export interface SkillSummary {
  /** `<plugin manifest name>:<skill name>` */
  readonly name: string
  readonly description: string
  readonly shortDescription: string | null
  readonly interface: SkillInterface | null
  /** canonical path of the SKILL.md */
  readonly path: string
}

const MAX_SKILL_NAME = 64
const MAX_SKILL_DESCRIPTION = 1024

const NullableString = Schema.optionalKey(Schema.NullOr(Schema.String))
const Frontmatter = Schema.Struct({
  name: NullableString,
  description: NullableString,
  metadata: Schema.optionalKey(Schema.Struct({ "short-description": NullableString }))
})
const OpenAiYaml = Schema.Struct({
  interface: Schema.optionalKey(Schema.NullOr(Schema.Struct({
    display_name: NullableString,
    short_description: NullableString,
    icon_small: NullableString,
    icon_large: NullableString,
    brand_color: NullableString,
    default_prompt: NullableString
  })))
})

/** codex `resolve_str` for openai.yaml: collapsed, non-empty, at most `max` chars. */
const interfaceText = (value: string | null | undefined, max: number, field: string, warnings: Array<string>): string | null => {
  if (value === undefined || value === null) return null
  const text = collapseWhitespace(value)
  if (text.length === 0) {
    warnings.push(`ignoring ${field}: value is empty`)
    return null
  }
  if (charCount(text) > max) {
    warnings.push(`ignoring ${field}: exceeds maximum length of ${max} characters`)
    return null
  }
  return text
}

/** codex `resolve_asset_path`: icons must be relative paths under `<skill>/assets/`. */
const iconPath = (skillDir: string, field: string, value: string | null | undefined, warnings: Array<string>): string | null => {
  if (value === undefined || value === null || value.length === 0) return null
  if (value.startsWith("/")) {
    warnings.push(`ignoring ${field}: icon must be a relative assets path (not ${join(skillDir, "assets")})`)
    return null
  }
  const names: Array<string> = []
  for (const c of components(value)) {
    if (c._tag === "CurDir") continue
    if (c._tag === "ParentDir") {
      warnings.push(`ignoring ${field}: icon path must not contain '..'`)
      return null
    }
    if (c._tag !== "Normal") {
      warnings.push(`ignoring ${field}: icon path must be under assets/`)
      return null
    }
    names.push(c.name)
  }
  if (names[0] !== "assets") {
    warnings.push(`ignoring ${field}: icon path must be under assets/`)
    return null
  }
  return join(skillDir, ...names)
}

const brandColor = (value: string | null | undefined, warnings: Array<string>): string | null => {
  if (value === undefined || value === null) return null
  const color = trimWhitespace(value)
  if (color.length === 0) {
    warnings.push("ignoring interface.brand_color: value is empty")
    return null
  }
  if (/^#[0-9a-fA-F]{6}$/.test(color)) return color
  warnings.push(`ignoring interface.brand_color: expected #RRGGBB, got ${color}`)
  return null
}

const decodeSkillInterface = (yamlText: string, skillDir: string, warnings: Array<string>): SkillInterface | null => {
  const parsed = parseYaml(yamlText)
  const decoded = Result.flatMap(parsed, (doc) =>
    Result.mapError(Schema.decodeUnknownResult(OpenAiYaml)(doc ?? {}), (e) => e.message))
  if (Result.isFailure(decoded)) {
    warnings.push(`ignoring ${join(skillDir, "agents/openai.yaml")}: invalid openai.yaml: ${decoded.failure}`)
    return null
  }
  const raw = decoded.success.interface
  if (raw === undefined || raw === null) return null
  const iface: SkillInterface = {
    displayName: interfaceText(raw.display_name, MAX_SKILL_NAME, "interface.display_name", warnings),
    shortDescription: interfaceText(raw.short_description, MAX_SKILL_DESCRIPTION, "interface.short_description", warnings),
    iconSmall: iconPath(skillDir, "interface.icon_small", raw.icon_small, warnings),
    iconLarge: iconPath(skillDir, "interface.icon_large", raw.icon_large, warnings),
    brandColor: brandColor(raw.brand_color, warnings),
    defaultPrompt: interfaceText(raw.default_prompt, MAX_SKILL_DESCRIPTION, "interface.default_prompt", warnings)
  }
  return Object.values(iface).some((v) => v !== null) ? iface : null
}

/** Parses one SKILL.md; a missing name falls back to the skill's directory name (verified). */
export const parseSkill = (
  contents: string,
  skillPath: string,
  namespace: string,
  openAiYaml: string | null,
  warnings: Array<string>
): Result.Result<SkillSummary, string> => {
  const frontmatter = extractFrontmatter(contents)
  if (frontmatter === null) return Result.fail("missing YAML frontmatter delimited by ---")
  const parsed = Result.flatMap(parseYaml(frontmatter), (doc) =>
    Result.mapError(Schema.decodeUnknownResult(Frontmatter)(doc), (e) => e.message))
  if (Result.isFailure(parsed)) return Result.fail(`invalid YAML: ${parsed.failure}`)
  const fm = parsed.success
  const skillDir = join(skillPath, "..")
  const named = collapseWhitespace(fm.name ?? "")
  const name = named.length > 0 ? named : basename(skillDir)
  const description = collapseWhitespace(fm.description ?? "")
  const short = collapseWhitespace(fm.metadata?.["short-description"] ?? "")
  for (const [field, value, max] of [["name", name, MAX_SKILL_NAME], ["description", description, MAX_SKILL_DESCRIPTION],
    ["metadata.short-description", short, MAX_SKILL_DESCRIPTION]] as const) {
    if (value.length === 0 && field !== "metadata.short-description") return Result.fail(`missing field \`${field}\``)
    if (charCount(value) > max) return Result.fail(`invalid ${field}: exceeds maximum length of ${max} characters`)
  }
  return Result.succeed({
    name: `${namespace}:${name}`,
    description,
    shortDescription: short.length > 0 ? short : null,
    interface: openAiYaml === null ? null : decodeSkillInterface(openAiYaml, skillDir, warnings),
    path: skillPath
  })
}
