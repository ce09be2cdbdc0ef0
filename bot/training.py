"""Train the Rasa model only when its inputs changed.

``rasa train`` notices unchanged inputs by itself, but only after loading TensorFlow and
rebuilding the graph, which costs a dozen seconds or more on every start. Here the inputs are
hashed first: ``config.yml``, the domain, everything under ``data/``, the Python files of custom
components named in ``config.yml``, and the Rasa version. The hash is stored beside the model;
when it matches and the model exists, training is skipped without starting Rasa.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from bot.runconfig import read_plain_yaml

__all__ = [
    "ModelInputs", "collect_inputs", "fingerprint", "is_up_to_date", "record_fingerprint", "rasa_version",
    "training_command",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelInputs:
    """The locations of a Rasa project's training inputs and of its trained model."""

    project: Path
    model_dir: Path
    model_name: str = "assistant"

    @property
    def model_path(self) -> Path:
        return self.model_dir / f"{self.model_name}.tar.gz"

    @property
    def fingerprint_path(self) -> Path:
        return self.model_dir / f"{self.model_name}.inputs.json"

    @property
    def config(self) -> Path:
        return self.project / "config.yml"

    @property
    def domain(self) -> Path:
        """``domain.yml``, or a ``domain/`` folder when the project splits its domain."""
        folder = self.project / "domain"
        return folder if folder.is_dir() else self.project / "domain.yml"

    @property
    def data(self) -> Path:
        return self.project / "data"


def rasa_version() -> str:
    """Return the installed Rasa version without importing Rasa (which loads TensorFlow)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("rasa")
    except PackageNotFoundError:
        return "not installed"


def _custom_component_files(inputs: ModelInputs) -> list[Path]:
    """Return the project's Python files named by dotted component paths in ``config.yml``."""
    config = read_plain_yaml(inputs.config)
    names = [entry.get("name", "") for section in ("pipeline", "policies") for entry in (config.get(section) or [])
             if isinstance(entry, dict)]
    files: list[Path] = []
    for name in names:
        if "." not in name:
            continue  # a built-in component
        module = name.rsplit(".", 1)[0]
        candidates = [inputs.project / Path(*module.split(".")).with_suffix(".py"),
                      inputs.project / Path(*module.split(".")) / "__init__.py"]
        files.extend(path for path in candidates if path.is_file())
    return files


def collect_inputs(inputs: ModelInputs) -> list[Path]:
    """Return every file whose content the trained model depends on, sorted."""
    files: list[Path] = [inputs.config]
    for root in (inputs.domain, inputs.data):
        if root.is_dir():
            files.extend(path for path in root.rglob("*") if path.is_file() and not path.name.startswith("."))
        elif root.exists():
            files.append(root)
    files.extend(_custom_component_files(inputs))
    return sorted(set(files))


def fingerprint(inputs: ModelInputs) -> dict[str, object]:
    """Return the hash of the training inputs and the list of files it covers."""
    digest = hashlib.sha256()
    digest.update(f"rasa {rasa_version()}\n".encode())
    files = collect_inputs(inputs)
    for path in files:
        relative = path.relative_to(inputs.project).as_posix()
        digest.update(f"{relative}\n".encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return {"sha256": digest.hexdigest(), "rasa": rasa_version(),
            "files": [path.relative_to(inputs.project).as_posix() for path in files]}


def is_up_to_date(inputs: ModelInputs) -> bool:
    """Return True when the model exists and was trained from exactly the current inputs."""
    if not inputs.model_path.is_file() or not inputs.config.is_file():
        return False
    try:
        recorded = json.loads(inputs.fingerprint_path.read_text())
    except (OSError, ValueError):
        return False
    return recorded.get("sha256") == fingerprint(inputs)["sha256"]


def record_fingerprint(inputs: ModelInputs, current: dict[str, object]) -> None:
    """Store the fingerprint of the inputs the model was just trained from."""
    inputs.fingerprint_path.write_text(json.dumps(current, indent=2))


def training_command(python: str, inputs: ModelInputs) -> list[str]:
    """Return the ``rasa train`` command line for this project."""
    return [
        python, "-m", "rasa", "train",
        "--config", str(inputs.config),
        "--domain", str(inputs.domain),
        "--data", str(inputs.data),
        "--out", str(inputs.model_dir),
        "--fixed-model-name", inputs.model_name,
    ]

