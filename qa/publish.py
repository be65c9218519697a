"""Publish: copy the live generation to a replica's index folder, then move the replica's CURRENT.

The destination is anything rsync reaches: a local path (``/srv/qa/index``), a host over ssh
(``host:/srv/qa/index``) or an rsync daemon's module (``rsync://host/qa-index``). One way for all of
them, so what the tests check on a local path is what runs against a remote replica:

1. the live generation is checked against the SHA-256 of every file that its manifest records;
2. rsync copies it into ``generations/<id>/`` at the destination, which no replica reads before CURRENT
   names it (files arrive whole, each written to a temporary name and renamed; a copy cut short is
   completed by the next publish);
3. rsync compares every file of the copy with the checked source by whole-file checksum, and lists
   any file missing or extra; any difference refuses the publish, leaving CURRENT as it was;
4. CURRENT is replaced by rsync, which writes a temporary file beside it and renames it: a replica
   reads the old name or the new one, and only the new one once the whole generation is there;
5. old generations at the destination are removed by the same rule as a build's
   (:func:`qa.index.generations_to_prune`).

Replicas follow CURRENT on their next request (:class:`qa.index.IndexStore`), without a restart.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from .config import Settings
from .errors import IndexUnavailable, PublishError
from .index import GENERATIONS, POINTER, file_checksums, generations_to_prune, read_manifest, read_pointer

RSYNC_TIMEOUT = 120  # seconds without I/O before rsync gives up on a destination


@dataclass
class Published:
    """What one publish did at one destination."""

    destination: str
    generation: str
    previous: str | None  # the generation the destination's CURRENT named before
    files: int
    bytes: int
    pruned: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def line(self) -> str:
        """What the publish did, in one line (``qa index publish`` prints it)."""
        moved = ("CURRENT already named it" if self.previous == self.generation
                 else f"CURRENT moved from {self.previous or 'nothing'}")
        pruned = f"; removed old generation(s) {', '.join(self.pruned)}" if self.pruned else ""
        return (f"published generation {self.generation} to {self.destination} ({self.files} files, "
                f"{self.bytes / 2**20:.1f} MB, verified, in {self.seconds:.1f} s); {moved}{pruned}")


def live_generation(index_dir: Path) -> tuple[str, Path, dict[str, str]]:
    """The live generation of ``index_dir``: its id, folder and file checksums, checked against the
    manifest so that a damaged generation is never sent to a replica."""
    gen = read_pointer(index_dir)
    if gen is None:
        raise IndexUnavailable(f"no index has been built in {index_dir}; run 'qa index build' first")
    folder = index_dir / GENERATIONS / gen
    try:
        expected = read_manifest(folder).get("files")
    except (OSError, ValueError) as exc:
        raise IndexUnavailable(f"the live generation {gen} in {index_dir} is unreadable ({exc}); rebuild it") from exc
    if not expected:
        raise PublishError(f"generation {gen} in {index_dir} records no file checksums (it was built before "
                           "publishing existed); rebuild it with 'qa index build', then publish")
    found = file_checksums(folder)
    damaged = sorted(n for n in expected.keys() | found.keys() if expected.get(n) != found.get(n))
    if damaged:
        raise PublishError(f"generation {gen} in {index_dir} does not match its manifest ({', '.join(damaged)}); "
                           "it was changed or damaged after it was built: rebuild it, nothing was published")
    return gen, folder, expected


def _rsync(*args: str, what: str) -> str:
    """Run rsync; its standard output, or a PublishError saying what failed and why."""
    if shutil.which("rsync") is None:
        raise PublishError("rsync is not installed: publishing copies generations with it "
                           "(Debian: apt-get install rsync)")
    try:
        # No standard input: ssh fails at once instead of asking for a password nobody types.
        proc = subprocess.run(["rsync", f"--timeout={RSYNC_TIMEOUT}", *args], capture_output=True, text=True,
                              stdin=subprocess.DEVNULL)
    except OSError as exc:
        raise PublishError(f"{what} failed: rsync could not run ({exc})") from exc
    if proc.returncode != 0:
        detail = " ".join(line.strip() for line in proc.stderr.strip().splitlines()[-3:])
        raise PublishError(f"{what} failed (rsync exit {proc.returncode}: {detail})")
    return proc.stdout


def _join(dest: str, *parts: str) -> str:
    return "/".join([dest.rstrip("/"), *parts])


def remote_pointer(dest: str, scratch: Path) -> str | None:
    """The generation the destination's CURRENT names (None when there is none yet), read through a
    copy of it in ``scratch``."""
    try:
        _rsync("--", _join(dest, POINTER), f"{scratch}/", what="reading CURRENT")
    except PublishError:
        return None
    return read_pointer(scratch)


def remote_generations(dest: str) -> dict[str, float]:
    """The generations at the destination (name -> folder mtime), from ``rsync --list-only``."""
    listing = _rsync("--list-only", "--", _join(dest, GENERATIONS) + "/", what=f"listing the generations at {dest}")
    found = {}
    for line in listing.splitlines():
        parts = line.split(None, 4)
        if len(parts) == 5 and parts[0].startswith("d") and not parts[4].startswith("."):
            found[parts[4]] = datetime.strptime(f"{parts[2]} {parts[3]}", "%Y/%m/%d %H:%M:%S").timestamp()
    return found


def publish(index_dir: Path, dest: str, settings: Settings | None = None) -> Published:
    """Copy the live generation of ``index_dir`` to ``dest`` (a path or an rsync destination), verify
    the copy, then move the destination's CURRENT to it and prune its old generations (``settings``:
    how many are kept, and for how long after they are superseded)."""
    settings = settings or Settings()
    t0 = time.perf_counter()
    index_dir = Path(index_dir)
    gen, folder, expected = live_generation(index_dir)
    target = _join(dest, GENERATIONS, gen) + "/"
    with tempfile.TemporaryDirectory(prefix="qa-publish-") as scratch_name:
        scratch = Path(scratch_name)
        previous = remote_pointer(dest, scratch)
        # -O: a generation folder's mtime is when it arrived, which the pruning grace counts from;
        # --delete: what a killed copy left there (rsync's temporary files) goes.
        _rsync("-rt", "-O", "--delete", "--mkpath", "--fsync", "--", f"{folder}/", target,
               what=f"copying generation {gen} to {target}")
        differences = _rsync("-rc", "-O", "-n", "--delete", "--out-format=%n", "--", f"{folder}/", target,
                             what=f"checking the copy in {target}")
        differing = sorted({line.replace("*deleting", "").strip() for line in differences.splitlines()} - {"", "./"})
        if differing:
            raise PublishError(
                f"the copy of generation {gen} in {target} does not match its manifest ({', '.join(differing)}); "
                f"CURRENT there was not moved (it still names {previous or 'nothing'}); remove that folder and "
                "publish again", code="publish_unverified")
        pointer = scratch / POINTER
        pointer.write_text(gen + "\n", encoding="utf-8")
        # -I: sent even when size and time match the old pointer (same-length names, same second).
        _rsync("-tI", "--fsync", "--", str(pointer), _join(dest, POINTER), what=f"moving CURRENT at {dest}")
        pruned = generations_to_prune(remote_generations(dest), gen, settings.keep_generations,
                                      settings.generation_grace)
        if pruned:
            empty = scratch / "empty"
            empty.mkdir()
            _rsync("-r", "--delete", *(f"--include=/{name}/***" for name in pruned), "--exclude=*", "--",
                   f"{empty}/", _join(dest, GENERATIONS) + "/", what=f"removing old generations at {dest}")
    size = sum((folder / name).stat().st_size for name in expected)
    return Published(dest, gen, previous, len(expected) + 1, size, pruned, time.perf_counter() - t0)
