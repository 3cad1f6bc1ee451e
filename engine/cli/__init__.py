"""The `huiqi` command line (ARCHITECTURE.md contracts): exit 0 on success, 2 with one line on stderr for bad input."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from contextlib import contextmanager
from pathlib import Path

import click

from engine.common.errors import InputError, ParameterUnset, RulesError
from engine.common.limits import LimitSettingError, visible
from engine.rules.params import OverrideError
from engine.common.values import has_lone_surrogate


class UserError(Exception):
    """A mistake of the user's, reported as one line and exit code 2."""


def _as_of(value: str | None) -> dt.date:
    if not value:
        return dt.date.today()
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise UserError(f"--as-of {value!r}: not a date (write YYYY-MM-DD)") from None


@contextmanager
def _worded(lang: str):
    """The engine's structured mistakes (a what-if out of range, a date without parameter values) as one line in
    the user's language."""
    try:
        yield
    except (OverrideError, ParameterUnset) as exc:
        raise UserError(exc.message(lang)) from None


def _dumps(obj) -> str:
    """JSON as printed: never Infinity or NaN (the values are checked finite before, so this is a last guard)."""
    try:
        return json.dumps(obj, ensure_ascii=False, indent=2, allow_nan=False)
    except ValueError:
        raise UserError("a result is not a finite number: check the --set values") from None


def _rules():
    from engine.rules.loader import default_rules

    return default_rules()


def _load_json(path: str) -> dict:
    p = Path(path)
    if not p.exists():
        raise UserError(f"{path}: file not found")
    if p.is_dir():
        raise UserError(f"{path}: is a directory, not a JSON file")
    try:
        data = json.loads(p.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise UserError(f"{path}: JSON nested too deeply to be a firm") from None
    except ValueError as exc:  # an integer of thousands of digits
        raise UserError(f"{path}: invalid JSON: {exc}") from None
    if has_lone_surrogate(data):
        raise UserError(f"{path}: invalid JSON: a string holds a lone surrogate escape (such as \\ud800), not text")
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected one JSON object (the firm), got {type(data).__name__}")
    return data


class LazyGroup(click.Group):
    """Subcommands imported only when used, so `huiqi check` starts without loading the ledger's database layer
    (click's documented lazy-loading pattern)."""

    lazy = {"ledger": "engine.cli.ledger:ledger"}

    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | set(self.lazy))

    def get_command(self, ctx, name):
        if name in self.lazy and name not in self.commands:
            module, _, attr = self.lazy[name].partition(":")
            import importlib

            self.add_command(getattr(importlib.import_module(module), attr), name)
        return super().get_command(ctx, name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
def main():
    """Huiqi (惠企): which science-and-technology support measures a firm qualifies for, why, and how much."""


@main.command()
@click.argument("firm_json", metavar="FIRM.json")
@click.option("--as-of", "as_of", help="Evaluation date YYYY-MM-DD (default: today).")
@click.option("--set", "sets", multiple=True, metavar="PARAM=VALUE", help="Override a parameter (what-if).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True)
def check(firm_json, as_of, sets, fmt, lang):
    """Check one firm against every measure."""
    from engine.service import check as check_firm, parse_overrides
    from engine.explain.report import render_check

    as_of_date = _as_of(as_of)
    rules = _rules()
    with _worded(lang):
        overrides = parse_overrides(rules, list(sets), as_of_date)
    raw = _load_json(firm_json)
    try:
        with _worded(lang):
            obj = check_firm(raw, as_of_date, overrides, rules)
    except InputError as exc:
        raise UserError(f"{firm_json}: {exc if lang == 'en' else exc.message_zh}") from None
    if fmt == "json":
        click.echo(_dumps(obj))
    else:
        click.echo(render_check(obj, rules, lang))


@main.command()
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--as-of", "as_of", help="Show parameter values in force on this date (default: today).")
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True)
def measures(fmt, as_of, lang):
    """List the measures, their conditions and parameters."""
    from engine.explain.catalogue import catalogue, render_catalogue

    rules = _rules()
    data = catalogue(rules, _as_of(as_of))
    if fmt == "json":
        click.echo(_dumps(data))
    else:
        click.echo(render_catalogue(data, lang, rules))


@main.command()
@click.argument("list_file", metavar="LIST.(xlsx|csv)")
@click.option("-o", "--output", "output", metavar="OUT.xlsx", help="Write the screening workbook here.")
@click.option("--jsonl", "jsonl_path", metavar="RESULTS.jsonl", help="Write one check object per screened firm.")
@click.option("--as-of", "as_of", help="Evaluation date YYYY-MM-DD (default: today).")
@click.option("--set", "sets", multiple=True, metavar="PARAM=VALUE", help="Override a parameter (what-if).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True,
              help="Language of the workbook and the text summary.")
@click.option("--dask", "scheduler", metavar="SCHEDULER", help="Screen a Parquet list directory on a Dask cluster: "
              "tcp://host:8786, or local:N for a local cluster of N workers (prints the JSON summary).")
@click.option("--results", "results", metavar="DIR", help="Write the per-firm results as Parquet parts "
              "(DIR/firms/part-*.parquet) and the rejected rows (DIR/rejected.parquet).")
@click.option("--partition-rows", "partition_rows", type=click.IntRange(min=1), default=None,
              help="Firms per partition with --dask (default: what the workers' memory limit holds).")
def screen(list_file, output, jsonl_path, as_of, sets, fmt, lang, scheduler, results, partition_rows):
    """Screen an enterprise list (Excel, CSV or a Parquet list directory): who qualifies for what, who lacks data,
    which rows were rejected."""
    from engine.service import parse_overrides
    from engine.outputs.screen import screen_table
    from engine.outputs.screen_text import render_screen_summary

    as_of_date = _as_of(as_of)
    rules = _rules()
    with _worded(lang):
        overrides = parse_overrides(rules, list(sets), as_of_date)
    _check_output("--jsonl", jsonl_path)
    if scheduler:
        from engine.cli.scale import screen_on_dask

        click.echo(_dumps(screen_on_dask(list_file, scheduler, as_of_date, overrides, results, partition_rows,
                                         output or jsonl_path, UserError)))
        return
    read = _read_list(list_file, output, rules, as_of_date)
    with _progress(read.table.n) as progress, _worded(lang):
        if jsonl_path:
            from engine.common.tempfiles import atomic_path

            with atomic_path(jsonl_path) as tmp, open(tmp, "w", encoding="utf-8") as jsonl:
                screening = screen_table(rules, read.table, as_of_date, overrides, read, jsonl, progress)
        else:
            screening = screen_table(rules, read.table, as_of_date, overrides, read, None, progress)
    if output:
        from engine.outputs.screen_workbook import write_screen_workbook

        write_screen_workbook(output, screening, lang)
    if results:
        from engine.cli.scale import write_local_results

        write_local_results(screening, results)
    summary = screening.summary()
    if fmt == "json":
        click.echo(_dumps(summary))
    else:
        click.echo(render_screen_summary(summary, screening, lang, output))


@main.command()
@click.argument("list_file", metavar="LIST.(xlsx|csv)")
@click.option("-o", "--output", "output", required=True, metavar="LIST.parquet/",
              help="The Parquet list directory to write (firms.parquet, one file per item list, rejected.parquet).")
@click.option("--as-of", "as_of", help="Date the values are checked against YYYY-MM-DD (default: today).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True)
def convert(list_file, output, as_of, fmt, lang):
    """Convert a list (Excel or CSV) into a Parquet list directory, reporting the rejected rows as screen does."""
    from engine.cli.convert import convert_list

    result = convert_list(list_file, output, _rules(), _as_of(as_of), lang, UserError)
    click.echo(_dumps(result["json"]) if fmt == "json" else result["text"])


@main.command()
@click.argument("list_file", metavar="LIST.(xlsx|csv)")
@click.option("--as-of", "as_of", help="Evaluation date YYYY-MM-DD (default: today); the policy year is its year.")
@click.option("--set", "sets", multiple=True, metavar="PARAM=VALUE", help="What-if: override a parameter.")
@click.option("--scenario", "scenario", metavar="FILE.yaml", help="What-if: parameter overrides saved in a file.")
@click.option("-o", "--output", "output", metavar="BUDGET.xlsx", help="Write the budget workbook here.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True)
@click.option("--ledger", "ledger_url", metavar="URL", help="The ledger database whose actuals to show beside the "
              "estimates (default: $HUIQI_DATABASE_URL, else instance/huiqi.sqlite3 when it exists).")
@click.option("--dask", "scheduler", metavar="SCHEDULER", help="Screen a Parquet list directory on a Dask cluster "
              "(tcp://host:8786, or local:N); the budget is the same.")
@click.option("--partition-rows", "partition_rows", type=click.IntRange(min=1), default=None,
              help="Firms per partition with --dask (default: what the workers' memory limit holds).")
def budget(list_file, as_of, sets, scenario, output, fmt, lang, ledger_url, scheduler, partition_rows):
    """Estimate the budget of a list: totals by measure, kind, department, district; pools; range; what-if."""
    from engine.service import parse_overrides
    from engine.ledger.views import ledger_actuals
    from engine.outputs.budget import load_scenario, what_if
    from engine.outputs.budget_text import render_budget

    as_of_date = _as_of(as_of)
    rules = _rules()
    try:
        scenario_sets = (load_scenario(scenario) if scenario else []) + list(sets)  # --set wins over the file
    except ValueError as exc:
        raise UserError(f"--scenario {exc}") from None
    with _worded(lang):
        overrides = parse_overrides(rules, scenario_sets, as_of_date)
    if scheduler:
        from engine.cli.scale import budget_on_dask
        from engine.outputs.budget import WhatIf, budget_of

        _check_workbook("-o", output)
        with _worded(lang):
            base, changed = budget_on_dask(list_file, scheduler, as_of_date, overrides, partition_rows, UserError)
            budgets = WhatIf(budget_of(base), None if changed is None else budget_of(changed))
    else:
        read = _read_list(list_file, output, rules, as_of_date)
        with _worded(lang):
            budgets = what_if(rules, read, as_of_date, overrides)
    result = budgets.figures()
    actuals = ledger_actuals(as_of_date.year, ledger_url)
    if actuals is not None:
        result["actuals"] = actuals
    if output:
        from engine.outputs.budget_workbook import write_budget_workbook

        write_budget_workbook(output, budgets.shown, lang, budgets.comparison)
    if fmt == "json":
        click.echo(_dumps(result))
    else:
        click.echo(render_budget(result, rules, lang, output, budgets.comparison is not None))


@main.command()
@click.option("-o", "--output", "output", required=True, metavar="TEMPLATE.xlsx",
              help="Where to write the template, e.g. 企业名单模板.xlsx.")
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True,
              help="zh: Chinese headers and instructions; en: English field names and instructions.")
def template(output, lang):
    """Write the list template: every sheet with its headers, a 填写说明 sheet and Excel data validation."""
    from engine.outputs.list_template import write_template

    if not output.lower().endswith(".xlsx"):
        raise UserError(f"-o {output}: the template must be an .xlsx file")
    _check_output("-o", output)
    write_template(_rules(), output, lang)
    click.echo(output)


def _read_list(list_file: str, output: str | None, rules, as_of_date: dt.date):
    """Check the output name first (a run must not fail at its end), then read the list or fail in one line."""
    from engine.inputs.lists import ListError, read_list
    from engine.inputs.parquet_list import is_list_dir, read_list_dir

    _check_workbook("-o", output)
    try:
        if is_list_dir(list_file):  # a Parquet list directory (huiqi convert)
            return read_list_dir(list_file, rules, as_of_date)
        return read_list(list_file, rules, as_of_date)
    except ListError as exc:
        raise UserError(str(exc)) from None


def output_problem(path: str | None) -> str | None:
    """Why a file cannot be written at `path`, or None: checked before a run, so that it does not fail at its end."""
    if not path:
        return None
    target = Path(path)
    folder = target.parent
    if target.is_dir():
        return "is a folder; name the file to write"
    if not folder.is_dir():
        return f"the folder {folder} does not exist" if not folder.exists() else f"{folder} is not a folder"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"cannot write in the folder {folder} (permission denied)"
    if target.exists() and not os.access(target, os.W_OK):
        return "the file exists and cannot be overwritten (permission denied)"
    return None


def _check_workbook(option: str, path: str | None) -> None:
    if path and not path.lower().endswith(".xlsx"):
        raise UserError(f"{option} {path}: the workbook must be an .xlsx file")
    _check_output(option, path)


def _check_output(option: str, path: str | None) -> None:
    problem = output_problem(path)
    if problem:
        raise UserError(f"{option} {path}: {problem}")


class _progress:
    """A progress bar on a terminal for long runs; silent when stderr is not a terminal."""

    def __init__(self, total: int):
        self.total = total
        self.bar = None

    def __enter__(self):
        if sys.stderr.isatty() and self.total >= 50_000:
            self.bar = click.progressbar(length=self.total, label="screening", file=sys.stderr)
            self.bar.__enter__()
            return self.bar.update
        return None

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(*exc)
        return False


def run(argv=None) -> int:
    """Entry point: click's own errors and ours become one line on stderr and exit code 2."""
    from engine.common.tempfiles import sweep

    sweep()  # the temporaries of a run that was killed
    try:
        main.main(args=argv, prog_name="huiqi", standalone_mode=False)
        return 0
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("huiqi: aborted", err=True)
        return 1
    except click.UsageError as exc:
        cmd = f" {exc.ctx.command.name}" if exc.ctx is not None and exc.ctx.command.name != "main" else ""
        click.echo(visible(f"huiqi{cmd}: {exc.format_message()} (see huiqi{cmd} --help)"), err=True)
        return 2
    except click.ClickException as exc:
        click.echo(visible(f"huiqi: {exc.format_message()}"), err=True)
        return 2
    except (UserError, OverrideError, ParameterUnset, LimitSettingError) as exc:  # when a command did not word them
        click.echo(visible(f"huiqi: {exc}"), err=True)
        return 2
    except RulesError as exc:
        click.echo(visible(f"huiqi: rules not loaded: {exc}"), err=True)
        return 2
    except BrokenPipeError:
        return 0


def entry():
    sys.exit(run())
