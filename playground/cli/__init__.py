"""The `playground` command: the TUI by default, and subcommands over the same core."""
