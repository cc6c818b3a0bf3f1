"""Training recipes as files: a TOML file whose phases are runs of one task in one run folder,
in order, each going on from the checkpoint the one before it left.

    task = "restorer"               # or "detector": the command that runs it
    threads = 1                     # optional: intra-op threads (OMP_NUM_THREADS overrides)

    [paths]                         # ${NAME} in option values; the environment variable NAME overrides
    TRAIN_PHOTOS = "~/.cache/inpaint-photos/train"

    [defaults]                      # every phase's options unless it sets its own
    data = "folder:${TRAIN_PHOTOS}"
    batch_size = 16

    [[phase]]
    name = "stage1"                 # unique; --phase NAME runs only the phases named
    stage = 1
    max_minutes = 90                # a phase with max_minutes = 0 is skipped

Option names are the fields of the task's config (``TrainConfig``, ``DetectTrainConfig``), which
are the command's flags with ``_`` for ``-``. ``--set NAME=VALUE`` overrides an option in every
phase, ``--set PHASE.NAME=VALUE`` in one, ``--set paths.NAME=VALUE`` a path and ``--set
threads=N`` the thread count; VALUE is read as a TOML value when it is one (``1e-4``,
``[3, 7]``, ``{ valid = 0.1 }``, ``true``) and as a string otherwise.

The run folder's ``recipe.json`` records each phase that ran: "done" (it reached its steps or its
time) or "stopped" (a signal), with the minutes it took. The same command again skips the phases
done and gives a stopped phase the rest of its minutes; ``--phase`` runs the phases named with
their full minutes, whatever the record says."""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import os
import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .loop import CHECKPOINT_NAME

log = logging.getLogger(__name__)


STATE_NAME = "recipe.json"  # in the run folder: which phases ran, and how they ended


NOT_OPTIONS = frozenset({"out", "resume", "recipe"})  # the command line and the runner set these


REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Phase:
    name: str
    options: dict[str, Any]  # the task config's fields, with the paths filled in


@dataclass(frozen=True)
class Recipe:
    path: Path
    sha256: str  # of the file's bytes
    task: str
    threads: int | None
    phases: tuple[Phase, ...]
    overrides: tuple[str, ...] = ()  # the --set arguments, as given

    def provenance(self, phase: Phase) -> dict[str, Any]:
        """What an exported model records of the recipe that trained it."""
        return {
            "path": display_path(self.path),
            "sha256": self.sha256,
            "phase": phase.name,
            "overrides": list(self.overrides),
        }


def display_path(path: Path) -> str:
    """``path`` relative to the repository when it lies inside it (as a model card cites it)."""
    resolved = path.resolve()
    try:
        return str(resolved.relative_to(REPO_ROOT))
    except ValueError:
        return str(resolved)


# ----------------------------------------------------------------------------- reading a recipe


def load_recipe(
    path: str | Path,
    task: str,
    config_type: type,
    overrides: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
) -> Recipe:
    """Read and check a recipe for ``task`` whose options are the fields of ``config_type``,
    with ``overrides`` ("NAME=VALUE", "PHASE.NAME=VALUE", "paths.NAME=VALUE") applied. Every
    problem is a ValueError saying what to change."""
    tomllib = _toml()
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"recipe {path} does not exist")
    raw = path.read_bytes()
    try:
        doc = tomllib.loads(raw.decode())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not valid TOML: {exc}") from None
    _check_keys(path, doc, {"task", "threads", "paths", "defaults", "phase"}, "top-level key")
    if doc.get("task") != task:
        raise ValueError(
            f"{path} is a recipe for {doc.get('task')!r}, not {task!r}: "
            f"use {'train-detector' if doc.get('task') == 'detector' else 'train'}"
        )
    hints = _option_types(config_type)
    phases = _phase_tables(path, doc)
    paths = dict(doc.get("paths") or {})
    threads = doc.get("threads")
    globals_, per_phase = {}, {name: {} for name in phases}
    for item in overrides:
        scope, name, value = _parse_override(item, phases)
        if scope == "paths":
            paths[name] = value
        elif scope == "threads":
            threads = value
        else:
            (globals_ if scope is None else per_phase[scope])[name] = value
    variables = _path_variables(paths, environ if environ is not None else os.environ, overrides)
    built = []
    for name, table in phases.items():
        options = {**(doc.get("defaults") or {}), **table, **globals_, **per_phase[name]}
        built.append(Phase(name, _checked_options(path, name, options, hints, variables)))
    if threads is not None and (not isinstance(threads, int) or isinstance(threads, bool) or threads < 1):
        raise ValueError(f"{path}: threads must be a whole number of 1 or more, got {threads!r}")
    return Recipe(path, hashlib.sha256(raw).hexdigest(), task, threads, tuple(built), tuple(overrides))


def _toml() -> Any:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        raise ValueError("recipes are read with tomllib, which needs Python 3.11 or later") from None
    return tomllib


def _check_keys(path: Path, table: Mapping[str, Any], allowed: set[str], what: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ValueError(f"{path}: unknown {what} {', '.join(unknown)} (known: {', '.join(sorted(allowed))})")


def _phase_tables(path: Path, doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The [[phase]] tables by name, in order, without their names."""
    tables = doc.get("phase")
    if not isinstance(tables, list) or not tables:
        raise ValueError(f"{path} has no phases: add [[phase]] tables")
    phases: dict[str, dict[str, Any]] = {}
    for i, table in enumerate(tables, 1):
        name = table.get("name")
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z][\w-]*", name) or name in ("paths", "threads"):
            raise ValueError(f"{path}: phase {i} needs a name of letters, digits, _ and - (not paths or threads)")
        if name in phases:
            raise ValueError(f"{path}: two phases are named {name}")
        phases[name] = {k: v for k, v in table.items() if k != "name"}
    return phases


def _parse_override(item: str, phases: Mapping[str, Any]) -> tuple[str | None, str, Any]:
    """ "[SCOPE.]NAME=VALUE" -> (scope: None, a phase name, "paths" or "threads"; name; value)."""
    tomllib = _toml()
    key, sep, text = item.partition("=")
    if not sep or not key:
        raise ValueError(f"--set {item!r}: use NAME=VALUE, PHASE.NAME=VALUE or paths.NAME=VALUE")
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        value = text
    scope, dot, name = key.rpartition(".")
    if not dot:
        return ("threads", "threads", value) if key == "threads" else (None, key, value)
    if scope != "paths" and scope not in phases:
        raise ValueError(f"--set {item!r}: no phase {scope} (phases: {', '.join(phases)})")
    return scope, name, value


def _path_variables(paths: Mapping[str, Any], environ: Mapping[str, str], overrides: Sequence[str]) -> dict[str, str]:
    """Each path: --set paths.NAME wins, then the environment variable NAME, then the recipe's."""
    given = {item.partition("=")[0].removeprefix("paths.") for item in overrides if item.startswith("paths.")}
    values = {}
    for name, value in paths.items():
        chosen = value if name in given or name not in environ else environ[name]
        values[name] = os.path.expanduser(str(chosen))
    return values


def _option_types(config_type: type) -> dict[str, Any]:
    hints = typing.get_type_hints(config_type)
    return {f.name: hints[f.name] for f in dataclasses.fields(config_type) if f.name not in NOT_OPTIONS}


def _checked_options(
    path: Path, phase: str, options: dict[str, Any], hints: dict[str, Any], variables: Mapping[str, str]
) -> dict[str, Any]:
    """The phase's options with known names, values of the field's type and the paths filled in."""
    unknown = sorted(set(options) - set(hints))
    if unknown:
        raise ValueError(
            f"{path}, phase {phase}: unknown option {', '.join(unknown)} "
            f"(options are the fields of the task's config: {', '.join(sorted(hints))})"
        )
    checked = {}
    for name, value in options.items():
        if not _fits(value, hints[name]):
            raise ValueError(f"{path}, phase {phase}: {name} = {value!r} is not a {_type_name(hints[name])}")
        checked[name] = _fill_paths(path, value, variables)
    return checked


def _fits(value: Any, hint: Any) -> bool:
    """Whether a TOML value can stand for a field annotated ``hint``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, a) for a in args if a is not type(None))
    if hint is Any:
        return True
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    return isinstance(value, list) if origin in (list, tuple) else isinstance(value, dict) if origin is dict else True


def _type_name(hint: Any) -> str:
    return str(hint).replace("typing.", "")


def _fill_paths(path: Path, value: Any, variables: Mapping[str, str]) -> Any:
    if not isinstance(value, str):
        return value

    def fill(match: re.Match[str]) -> str:
        if match.group(1) not in variables:
            raise ValueError(f"{path} uses ${{{match.group(1)}}}, which its [paths] table does not define")
        return variables[match.group(1)]

    return re.sub(r"\$\{(\w+)\}", fill, value)


# ----------------------------------------------------------------------------- running a recipe


def run_recipe(
    recipe: Recipe, out: str | Path, make_loop: Callable[[dict[str, Any]], Any], only: Sequence[str] = ()
) -> list[Path]:
    """Run the recipe's phases (or those named in ``only``) in order in the run folder ``out``;
    ``make_loop(options)`` builds a phase's TrainingLoop from its config's fields. Stops after a
    phase that a signal stopped. Returns the folders exported."""
    out = Path(out)
    selected = _selected(recipe, only)
    state = _read_state(out)
    recorded = (state.get("recipe") or {}).get("sha256")
    if recorded not in (None, recipe.sha256):
        log.warning("%s changed since %s recorded its phases", recipe.path, out / STATE_NAME)
    _apply_threads(recipe.threads)
    keep_init = not (out / CHECKPOINT_NAME).is_file()  # --init only starts a run folder
    folders = []
    for phase in selected:
        options = _phase_options(phase, state, bool(only), keep_init)
        if options is None:
            continue
        loop = make_loop({**options, "out": str(out), "recipe": recipe.provenance(phase)})
        folder = loop.fit()
        log.info(
            "phase %s ended (%s) at step %d after %.1f min",
            phase.name,
            loop.stop_reason,
            loop.progress.total_steps,
            loop.minutes,
        )
        if loop.rank == 0:
            _record(out, state, recipe, phase, loop)
        if folder is not None:
            folders.append(folder)
        if loop.stop_reason == "signal":
            log.info("stopped in phase %s: the same command goes on from there", phase.name)
            break
    return folders


def _selected(recipe: Recipe, only: Sequence[str]) -> list[Phase]:
    names = [p.name for p in recipe.phases]
    unknown = [n for n in only if n not in names]
    if unknown:
        raise ValueError(f"--phase {', '.join(unknown)}: {recipe.path} has phases {', '.join(names)}")
    for phase in recipe.phases:
        if phase.name in only and phase.options.get("max_minutes") == 0:
            raise ValueError(
                f"phase {phase.name} has max_minutes = 0 (skipped): give it minutes with "
                f"--set {phase.name}.max_minutes=M"
            )
    return [p for p in recipe.phases if not only or p.name in only]


def _phase_options(phase: Phase, state: dict[str, Any], named: bool, keep_init: bool) -> dict[str, Any] | None:
    """The options a phase runs with now, or None when it does not run."""
    options = dict(phase.options)
    if not keep_init:
        options.pop("init", None)
    minutes = options.get("max_minutes")
    if minutes == 0:
        log.info("phase %s: max_minutes = 0, skipped", phase.name)
        return None
    record = state["phases"].get(phase.name) if not named else None
    if record is None:
        return options
    if record["status"] == "done":
        log.info("phase %s: done in an earlier run of the recipe, skipped", phase.name)
        return None
    if minutes is not None:  # a stopped phase goes on for the rest of its minutes
        left = minutes - record["minutes"]
        if left <= 0:
            return None
        options["max_minutes"] = left
    return options


def _read_state(out: Path) -> dict[str, Any]:
    path = out / STATE_NAME
    state = json.loads(path.read_text()) if path.is_file() else {}
    state.setdefault("phases", {})
    return state


def _record(out: Path, state: dict[str, Any], recipe: Recipe, phase: Phase, loop: Any) -> None:
    """Write how the phase ended (atomically: a kill mid-write leaves the file as it was)."""
    earlier = state["phases"].get(phase.name)
    minutes = loop.minutes + (earlier["minutes"] if earlier and earlier["status"] == "stopped" else 0.0)
    state["recipe"] = {"path": display_path(recipe.path), "sha256": recipe.sha256}
    state["phases"][phase.name] = {
        "status": "stopped" if loop.stop_reason == "signal" else "done",
        "minutes": round(minutes, 3),
        "step": loop.progress.total_steps,
    }
    tmp = out / (STATE_NAME + ".tmp")
    tmp.write_text(json.dumps(state, indent=2) + "\n")
    os.replace(tmp, out / STATE_NAME)


def _apply_threads(threads: int | None) -> None:
    if threads is not None and "OMP_NUM_THREADS" not in os.environ:
        import torch

        torch.set_num_threads(threads)


# ----------------------------------------------------------------------------- the command line


def add_recipe_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--recipe",
        dest="recipe_file",
        metavar="FILE",
        help="run the phases of this recipe file (e.g. recipes/restorer.toml) in --out; its options "
        "replace the other flags",
    )
    p.add_argument("--phase", action="append", metavar="NAME", help="with --recipe: run only this phase (repeatable)")
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        dest="overrides",
        help="with --recipe: override an option in every phase (NAME=VALUE) or in one (PHASE.NAME=VALUE), "
        "or a path (paths.NAME=VALUE)",
    )


def recipe_command(
    args: argparse.Namespace,
    task: str,
    config_type: type,
    make_loop: Callable[[dict[str, Any]], Any],
    add_arguments: Callable[[argparse.ArgumentParser], None],
) -> list[Path] | None:
    """The part of ``train`` and ``train-detector`` that runs a recipe: None without --recipe
    (then --phase and --set are refused), else the exported folders. Flags of the task's own
    given with --recipe are refused: a recipe says every option, --set changes one."""
    if not args.recipe_file:
        if args.phase or args.overrides:
            raise ValueError("--phase and --set go with --recipe FILE")
        return None
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    names = {f.name for f in dataclasses.fields(config_type)} - {"out"}
    given = sorted(n for n in names if n in vars(args) and getattr(args, n) != parser.get_default(n))
    if given:
        negated = {"resume": "--no-resume", "channels_last": "--no-channels-last"}
        flags = ", ".join(negated.get(n, "--" + n.replace("_", "-")) for n in given)
        raise ValueError(f"with --recipe the options come from the recipe: instead of {flags} use --set NAME=VALUE")
    recipe = load_recipe(args.recipe_file, task, config_type, args.overrides or ())
    return run_recipe(recipe, args.out, make_loop, args.phase or ())


def flag_options(args: argparse.Namespace, config_class: type) -> dict[str, Any]:
    """A run's config fields from its command line's flags (a run without ``--recipe``, which
    then needs ``--data``)."""
    if not args.data:
        raise ValueError("give --data (a dataset spec) or --recipe FILE")
    names = {f.name for f in dataclasses.fields(config_class)}
    return {k: v for k, v in vars(args).items() if k in names}
