"""``study.json``: what a study is, written when it starts and compared when it resumes.

A resumed study must match the recorded configuration exactly (more trials excepted). A
scenario built from logs (:mod:`jaxfair.scenarios.logs`) is recorded by *content* — the data
file's size and sha256 (or, for ``from_frame``, a hash of the frame's values) plus its build
options — not by path: the same file under another path resumes, an edited one is refused in
one line.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jaxfair.utils.atomic import atomic_write_text

__all__ = ["LOCATION_OPTIONS", "check_or_write_config", "evaluation_record", "prefs_set_record", "scenario_identity"]


def prefs_set_record(prefs_set: Any) -> dict:
    """What ``study.json`` records of a preference set: its description (kind, parameters, names,
    per-entry range) and the sha256 of its values, so a resume with another set is refused."""
    import hashlib

    import numpy as np

    values = np.ascontiguousarray(prefs_set.values, dtype="<f8")
    return dict(prefs_set.describe(), values_sha256=hashlib.sha256(values.tobytes()).hexdigest())


#: Scenario options that say where data lives, not what it is: not compared on resume.
LOCATION_OPTIONS = ("data_dir", "cache_dir")


def scenario_identity(scenario: Any) -> dict:
    """``{"data": ..., "scenario_build": ...}`` of a scenario built from logs (else ``{}``).

    ``data``: the file's ``name``, ``bytes`` and ``sha256`` (from ``from_file``) and the hash of
    the values the scenario was built from (``content_sha256``, also for ``from_frame``).
    ``scenario_build``: the build seed, options (sampling, replay) and columns used.
    """
    info = getattr(scenario, "info", None)
    if not isinstance(info, dict) or "content_sha256" not in info:
        return {}
    data = {"content_sha256": info["content_sha256"]}
    if isinstance(info.get("file"), dict):
        data.update(info["file"])
    build = {
        "seed": getattr(scenario, "seed", None),
        "options": dict(getattr(scenario, "options", {}) or {}),
        "columns": info.get("columns"),
    }
    return json.loads(json.dumps({"data": data, "scenario_build": build}, default=str))


def _comparable(config: dict) -> dict:
    # Extending a finished study with more trials is allowed; the data file's name may differ.
    # prefs_by_group restates prefs + group_names + label_names (compared), exact_sample restates
    # exact_users and the data (compared): older studies lack them.
    out = {k: v for k, v in config.items() if k not in ("trials", "prefs_by_group", "exact_sample")}
    if isinstance(out.get("data"), dict):
        out["data"] = {k: v for k, v in out["data"].items() if k != "name"}
    return out


def _data_changed(out_dir: Path, old: dict | None, new: dict | None) -> str | None:
    """One line saying how the study's data changed, or None when it did not (or is not recorded)."""
    if (
        not isinstance(old, dict)
        or not isinstance(new, dict)
        or _comparable({"data": old}) == _comparable({"data": new})
    ):
        return None
    if "sha256" in old and "sha256" in new:
        return (
            f"out: data file {new.get('name')} changed since the study in {str(out_dir)!r} started (sha256 "
            f"{old['sha256'][:12]}… → {new['sha256'][:12]}…, {old.get('bytes')} → {new.get('bytes')} bytes); "
            "use a new --out (or restore the file)"
        )
    return (
        f"out: the logged data differs from the data the study in {str(out_dir)!r} started with (content "
        f"sha256 {str(old.get('content_sha256'))[:12]}… → {str(new.get('content_sha256'))[:12]}…); use a new "
        "out directory (or the original data)"
    )


def check_or_write_config(out_dir: Path, config: dict) -> None:
    (out_dir / "rows").mkdir(parents=True, exist_ok=True)
    cfg_path = out_dir / "study.json"
    config = json.loads(json.dumps(config))
    if cfg_path.exists():
        old = json.loads(cfg_path.read_text())
        a, b = _comparable(old), _comparable(config)
        if a != b:
            changed = _data_changed(out_dir, old.get("data"), config.get("data"))
            if changed is not None:
                raise ValueError(changed)
            if "data" in config and "data" not in old and isinstance(old.get("scenario_options", {}).get("data"), str):
                raise ValueError(
                    f"out: {str(out_dir)!r} holds a study started by an older jaxfair, which recorded the "
                    "path of its data file rather than its content, so resuming cannot check the file; "
                    "use a new --out"
                )
            diff = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
            raise ValueError(
                f"out: {str(out_dir)!r} holds a study with a different configuration ({diff}); use another directory"
            )
        if isinstance(old.get("data"), dict) and "name" in old["data"] and isinstance(config.get("data"), dict):
            config["data"]["name"] = old["data"]["name"]  # keep the name the study started with
    atomic_write_text(cfg_path, json.dumps(config, indent=2))


def evaluation_record(
    scenario: Any, ev: Any, exact_users: int, objectives: Sequence[str], position_weights: Any
) -> dict:
    """What ``study.json`` records of how the study evaluates: the exact batch, an impression log's
    off-policy options and identified region, non-default objectives, the preference set, the slate.
    Keys stay absent at their defaults, so studies written before them still resume."""
    out: dict = {}
    if hasattr(scenario, "sample_size") and not getattr(scenario, "fixed_sessions", False):
        # what the exact batch is drawn from, for the pages (exact_values_text); not compared on resume
        out["exact_sample"] = scenario.sample_size(exact_users)
    if getattr(scenario, "fixed_sessions", False):
        # A replay's exact value is the logged sessions once each (exact_users is ignored); studies
        # whose exact values came from a resample of the logs do not resume into this one.
        out["exact_batch"] = "logged sessions, each once"
    if hasattr(ev, "region"):  # an impression log: what the objectives are, and where the search stays
        out["exact_batch"] = "the whole impression log (off-policy point estimate)"
        out["offpolicy"] = dict(ev.options, identified_region=ev.region(), logging=scenario.logging_text())
        if ev.slate > 1:  # the independent-position estimator's assumption, with the numbers it rests on
            from jaxfair.surface.offpolicy import SLATE_ASSUMPTION

            out["offpolicy"]["slate_assumption"] = SLATE_ASSUMPTION
    if objectives != ("utility", "der"):
        out["objectives"] = list(objectives)
    if ev.prefs_set is not None:  # absent from studies without a set: they stay resumable
        out["prefs_set"] = prefs_set_record(ev.prefs_set)
    if ev.slate != 1 or position_weights != "dcg":
        out.update(
            slate=ev.slate,
            position_weights=ev.position_weights if isinstance(ev.position_weights, str) else list(ev.position_weights),
        )
    return out
