"""Entry point for `python -m genopt_cli`."""

from genopt_cli.cli import main

if __name__ == "__main__":
    main()
