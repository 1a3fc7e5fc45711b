"""The command line: one module per subcommand, and the options shared with the app."""
