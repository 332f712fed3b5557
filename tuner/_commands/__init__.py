"""The `twistune` commands, one module each: argparse -> a typed options value -> a typed
core function that tests call directly. Commands share flags and exit codes through
`tuner._commands._common` and never import each other or the entry point."""
