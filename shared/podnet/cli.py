"""The ``podnet`` console command. Subcommands load lazily so ``podnet validate`` stays fast."""

from __future__ import annotations

import importlib

import click

# name -> "module:attribute" of a click.Command; each lives in podnet.commands.<name>
SUBCOMMANDS: dict[str, str] = {
    "validate": "podnet.commands.validate:validate",
    "local": "podnet.commands.local:local",
    "run": "podnet.commands.run:run",
    "forwarder": "podnet.commands.forwarder:forwarder",
    "webhook": "podnet.commands.webhook:webhook",
    "fake": "podnet.commands.fake:fake",
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported only when invoked."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = SUBCOMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        return getattr(importlib.import_module(module_name), attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="podnet-fc", prog_name="podnet")
def main() -> None:
    """Multi-network Pods on Alibaba Cloud: validate manifests, run the control plane, run fakes."""


if __name__ == "__main__":  # pragma: no cover
    main()
