"""The engine's packages follow the data path (engine/README.md): each imports only the packages before it, and none
imports the web app or Flask. The contracts are in .importlinter; import-linter checks them."""

from __future__ import annotations

import os
from pathlib import Path

from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[1]


def _lint(config: Path, capsys) -> tuple[int, str]:
    here = os.getcwd()
    os.chdir(ROOT)  # the root packages are found from the repository
    try:
        code = lint_imports(config_filename=str(config), no_cache=True, no_logo=True)
    finally:
        os.chdir(here)
    return code, capsys.readouterr().out


def test_every_package_imports_only_the_packages_before_it(capsys):
    code, out = _lint(ROOT / ".importlinter", capsys)
    assert code == 0, out
    assert "2 kept, 0 broken" in out


def test_a_layer_importing_a_later_one_is_caught(tmp_path, capsys):
    # the same contract with the data path reversed must break: the check really reads the imports
    text = (ROOT / ".importlinter").read_text(encoding="utf-8")
    layers = ["engine.cli", "engine.service", "engine.outputs | engine.ledger", "engine.explain", "engine.evaluate",
              "engine.inputs", "engine.rules", "engine.common"]
    block = "".join(f"    {layer}\n" for layer in layers)
    assert block in text
    reversed_config = tmp_path / "reversed.ini"
    reversed_config.write_text(text.replace(block, "".join(f"    {layer}\n" for layer in reversed(layers))),
                               encoding="utf-8")
    code, out = _lint(reversed_config, capsys)
    assert code != 0 and "engine.rules is not allowed to import engine.common" in out
