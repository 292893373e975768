"""Subcommands other than train."""
