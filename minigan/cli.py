"""The `minigan` command. Each subcommand registers itself in `build_parser`."""

import argparse
import sys

from minigan import __version__


def build_parser():
    parser = argparse.ArgumentParser(
        prog="minigan",
        description="Train and inspect GANs, autoencoders and VAEs on faces with a from-scratch engine.",
    )
    parser.add_argument("--version", action="version", version=f"minigan {__version__}")
    parser.add_subparsers(dest="command", metavar="COMMAND")
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
