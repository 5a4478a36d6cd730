/** The CLI's own failures, with their exit codes decided in Cli.ts. */
import { Schema } from "effect"

/** A command line that does not parse or names no command: exit code 2. */
export class UsageError extends Schema.TaggedError<UsageError>()("UsageError", { message: Schema.String }) {}

/** `verify` found problems it did not repair: the report is printed on stdout all the same, and the exit code is 4. */
export class ProblemsFound extends Schema.TaggedError<ProblemsFound>()("ProblemsFound", { output: Schema.String }) {}
