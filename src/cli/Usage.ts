export const usage = `plugin-ledger: an event-sourced state engine for Codex plugins

Usage:
  plugin-ledger <command> [options]

Commands:
  list                         list marketplaces and their plugins (installed / enabled state)
  install <plugin>             install a plugin from a marketplace
  uninstall <plugin@market>    remove a plugin's cache and its config.toml entry
  enable <plugin@market>       set [plugins."<id>"] enabled = true
  disable <plugin@market>      set [plugins."<id>"] enabled = false
  history [plugin@market]      the timeline of events that changed plugin state, with their causes
  why <plugin@market>          the plugin's state and the events (actor, client, request) that decided it
  verify                       check the log chain, the cache trees and config.toml against the log
  sync [--curated] [--remote]  update the curated mirror (.tmp/plugins) and/or run the remote curated sync
                               (GET {chatgpt_base_url}/plugins/list); both when no flag is given; recorded
  rollback <plugin@market>     restore an earlier content version of an installed plugin from the blob store
  replay                       project the log (up to --until) into a fresh directory laid out as a CODEX_HOME
  process <sub> ...            process plugins (JSON-RPC child processes): add <name> <command> [args...],
                               configure, credentials, enable, disable, remove <name>, list, status <name>,
                               test <name> (a throwaway start: initialize + ping, nothing recorded),
                               call <name> <method> [--params <json>] [--user <id>] [--timeout <s>]
  capabilities [--at <seq|time>]
                               what the enabled plugins give an agent: skills, MCP servers, apps, the
                               ## Plugins instructions block, and why each other plugin is left out
  serve                        speak the Codex app-server protocol on stdin/stdout
  daemon --socket <path>       the same protocol on a Unix socket, for many clients at once
  proxy --socket <path>        bridge stdin/stdout to a running daemon, byte for byte
  demo                         run install / disable / enable / uninstall on the embedded sample
                               marketplace in a temporary CODEX_HOME and print each step

Options:
  --codex-home <dir>     state directory (default: $CODEX_HOME, else ~/.codex)
  --cwd <dir>            a directory to discover marketplaces from (repeatable; default: .)
  --marketplace <path>   install: the marketplace.json file, or the root that holds .agents/plugins/
  --limit <n>            history: show only the last n events
  --since <seq|time>     history: only events after this seq, or at/after this ISO-8601 time
  --until <time>         history: only events before this ISO-8601 time
  --actor <actor>        history: only events caused by this actor (rpc, cli, config-edit, ...)
                         (replay --until <seq|time>: stop after this seq, or at this ISO-8601 time)
  --into <dir>           replay: the directory to replay into (absent or empty; default: a new temp dir)
  --base <file>          replay: the config.toml to start from (the one before the ledger's first event)
  --verify-decisions     replay: decide every recorded remote sync again from its recorded input and print any
                         difference (exit code 4 when there is one)
  --to <seq>             rollback: restore the content the plugin had at this seq (default: the install
                         before the current content)
  --at <seq|time>        capabilities: answer for the log up to this seq or ISO-8601 time (plugin files from
                         the blob store)
  --curated              sync: clone/update the curated marketplace mirror (git), reinstall configured curated
                         plugins at its sha, install new INSTALLED_BY_DEFAULT plugins
  --remote               sync: reconcile the curated marketplace with the ChatGPT backend (auth.json)
  --repo <url>           sync --curated: the git repository (default $PLUGIN_LEDGER_CURATED_REPO, else
                         https://github.com/openai/plugins.git); CODEX_DISABLE_CURATED_PLUGIN_SYNC skips it
  --repair               verify: restore broken cache trees from the blob store (recorded as events)
  --request-id <key>     idempotency key: repeating a command with the same key changes nothing twice
  --env KEY=VALUE        process add: an environment variable of the plugin (repeatable; secret-looking
                         names such as *_KEY, *_TOKEN are sealed with the credentials, not logged)
  --arg <arg>            process add: one more argument (repeatable; or give them after the command)
  --workdir <dir>        process add: the plugin's working directory
  --timeout <seconds>    process add/configure: the plugin's per-call timeout (0: the host's default,
                         30 s or $PLUGIN_LEDGER_PROCESS_TIMEOUT); process call: this call's deadline
  --rate-limit <n>       process add/configure: calls per minute to the plugin (0: no limit; default 60
                         or $PLUGIN_LEDGER_PROCESS_RATE_LIMIT)
  --admin-config <json>  process configure: the admin config object sent in initialize
  --user <id>            process configure/call: the user (its own process, user config and storage;
                         without it a call uses the plugin's own process and storage)
  --user-config <json>   process configure --user <id>: that user's config object
  --credential K=V       process credentials: a credential (repeatable); --credentials-file <json file>
  --params <json>        process call: the method's params
  --json                 print machine-readable JSON instead of tables
  --socket <path>        daemon, proxy: the Unix socket
  --log-level <level>    trace, debug, info (default), warn, error or none; logs never go to stdout
  --log-file <path>      append logs to this file instead of stderr
  -h, --help             show this help

Exit codes:
  0  success
  1  the request was rejected (bad id, unknown plugin, not installed, NOT_AVAILABLE, ...)
  2  usage error (unknown command or option, missing argument)
  3  internal error (config.toml Codex could not load, file system, corrupt or locked ledger)
  4  verify found problems it did not repair
`
