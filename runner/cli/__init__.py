"""The `feeds` command line: `app` (commands, parsing only), `handler` (errors to exit codes), `render` (output)."""
