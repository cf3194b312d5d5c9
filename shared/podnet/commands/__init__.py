"""One module per ``podnet`` subcommand (see ``podnet.cli.SUBCOMMANDS``)."""
