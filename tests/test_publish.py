"""`qa index publish`: the live generation copied to a replica's index folder, verified, then CURRENT moved.

Real rsync on real files: to a local path, and to an rsync daemon on 127.0.0.1 (the form a replica on
another host is reached by without ssh; ``host:/path`` is the same rsync over ssh).
"""
import os
import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest

from qa.answer import ask
from qa.build import build_index
from qa.cli import main
from qa.config import SAMPLE_REPORTS, Settings
from qa.errors import PublishError
from qa.index import GENERATIONS, IndexStore, file_checksums, read_manifest, read_pointer
from qa.publish import publish

from .conftest import free_port

pytestmark = pytest.mark.skipif(shutil.which("rsync") is None,
                                reason="rsync is not installed (Debian: apt-get install rsync; .ci/run installs it)")


@pytest.fixture()
def builder(tmp_path):
    """(reports folder, index folder) of a builder holding one generation of the bundled sample."""
    reports, index = tmp_path / "reports", tmp_path / "builder"
    shutil.copytree(SAMPLE_REPORTS, reports)
    build_index(reports, index)
    return reports, index


def new_generation(reports, index, n: int) -> str:
    (reports / f"extra-{n}.txt").write_text(f"Extra report {n}\n\nUnpaid work in region {n} was well run.\n")
    return build_index(reports, index, incremental=True).generation


def answer(index_dir, question="how is London CRC doing on public protection?"):
    body = ask(IndexStore(index_dir).current(), question, 5)
    body.pop("took_ms")
    return body


def test_publish_copies_verifies_and_moves_current(builder, tmp_path):
    _, index = builder
    replica = tmp_path / "replica"
    done = publish(index, str(replica))
    gen = read_pointer(index)
    assert done.generation == gen == read_pointer(replica) and done.previous is None
    copied = replica / GENERATIONS / gen
    assert file_checksums(copied) == read_manifest(copied)["files"] == read_manifest(index / GENERATIONS / gen)["files"]
    assert (copied / "manifest.json").read_bytes() == (index / GENERATIONS / gen / "manifest.json").read_bytes()
    assert answer(replica) == answer(index)
    again = publish(index, str(replica))  # nothing to copy: still verified, CURRENT rewritten to the same name
    assert again.previous == gen == read_pointer(replica)


def test_a_reader_sees_the_old_generation_or_the_whole_new_one_never_a_partial_one(builder, tmp_path):
    reports, index = builder
    replica = tmp_path / "replica"
    first = publish(index, str(replica)).generation
    second = new_generation(reports, index, 1)
    seen, wrong = set(), []
    finished = threading.Event()

    def read_while_publishing():
        while not finished.is_set():
            name = read_pointer(replica)
            seen.add(name)
            if name == second:
                folder = replica / GENERATIONS / second
                if file_checksums(folder) != read_manifest(folder)["files"]:
                    wrong.append("CURRENT named a generation that was not complete")
            elif name != first:
                wrong.append(f"CURRENT read as {name!r}")

    reader = threading.Thread(target=read_while_publishing)
    reader.start()
    try:
        publish(index, str(replica))
    finally:
        finished.set()
        reader.join()
    assert not wrong
    assert first in seen and read_pointer(replica) == second
    assert IndexStore(replica).current().version == second


def test_a_corrupt_copy_is_refused_and_the_replica_keeps_serving(builder, tmp_path):
    reports, index = builder
    replica = tmp_path / "replica"
    first = publish(index, str(replica)).generation
    store = IndexStore(replica)
    before = answer(replica)
    second = new_generation(reports, index, 1)
    # A copy left damaged on the replica: same size and time as the real file, so rsync's quick check
    # would skip it; only the checksum comparison can tell.
    source, damaged = index / GENERATIONS / second, replica / GENERATIONS / second
    shutil.copytree(source, damaged)
    data = bytearray((source / "impacts.npy").read_bytes())
    data[-1] ^= 0xFF
    (damaged / "impacts.npy").write_bytes(bytes(data))
    shutil.copystat(source / "impacts.npy", damaged / "impacts.npy")
    with pytest.raises(PublishError) as err:
        publish(index, str(replica))
    assert err.value.code == "publish_unverified"
    assert "impacts.npy" in err.value.message and f"still names {first}" in err.value.message
    assert read_pointer(replica) == first and store.current().version == first
    assert answer(replica) == before
    shutil.rmtree(damaged)  # what the message says to do
    assert publish(index, str(replica)).generation == second == store.current().version


def test_an_interrupted_copy_is_completed_by_the_next_publish(builder, tmp_path):
    reports, index = builder
    replica = tmp_path / "replica"
    first = publish(index, str(replica)).generation
    second = new_generation(reports, index, 1)
    source, partial = index / GENERATIONS / second, replica / GENERATIONS / second
    partial.mkdir()
    for f in sorted(source.iterdir())[:5]:
        shutil.copy2(f, partial / f.name)
    (partial / "texts.bin").write_bytes((source / "texts.bin").read_bytes()[:100])  # cut short
    (partial / ".impacts.npy.Xy12ab").write_bytes(b"rsync's temporary file of a killed copy")
    assert read_pointer(replica) == first
    publish(index, str(replica))
    assert read_pointer(replica) == second
    assert sorted(p.name for p in partial.iterdir()) == sorted([*read_manifest(source)["files"], "manifest.json"])
    assert file_checksums(partial) == read_manifest(source)["files"]


def test_a_damaged_live_generation_is_not_published(builder, tmp_path):
    _, index = builder
    gen = read_pointer(index)
    with open(index / GENERATIONS / gen / "terms.json", "a") as f:
        f.write(" ")
    with pytest.raises(PublishError, match=r"does not match its manifest \(terms.json\).*nothing was published"):
        publish(index, str(tmp_path / "replica"))
    assert not (tmp_path / "replica").exists()


def test_old_generations_at_the_replica_are_pruned_as_in_a_build(builder, tmp_path):
    reports, index = builder
    replica = tmp_path / "replica"
    now = Settings(keep_generations=2, generation_grace=0)
    gens = [publish(index, str(replica), now).generation]
    for n in range(3):
        new_generation(reports, index, n)
        gens.append(publish(index, str(replica), now).generation)
    assert sorted(p.name for p in (replica / GENERATIONS).iterdir()) == gens[-2:]
    assert read_pointer(replica) == gens[-1]
    new_generation(reports, index, 9)
    done = publish(index, str(replica), Settings(keep_generations=2, generation_grace=3600))  # within the grace
    assert done.pruned == [] and len(list((replica / GENERATIONS).iterdir())) == 3


def test_the_command_line_publishes_to_each_destination_and_fails_for_the_bad_one(builder, tmp_path, capsys):
    _, index = builder
    good, blocked = tmp_path / "good", tmp_path / "blocked"
    blocked.write_text("a file where a folder should be")
    code = main(["index", "publish", "--index", str(index), "--to", str(good), "--to", str(blocked)])
    out, err = capsys.readouterr()
    assert code == PublishError.exit_code
    assert f"published generation {read_pointer(index)} to {good}" in out
    assert f"not published to {blocked}: copying generation" in err
    assert "1 of 2 destination(s) were not published to" in err
    assert read_pointer(good) == read_pointer(index)


def test_the_command_line_says_when_there_is_nothing_to_publish(tmp_path, capsys):
    code = main(["index", "publish", "--index", str(tmp_path / "none"), "--to", str(tmp_path / "replica")])
    assert code != 0 and "qa index build" in capsys.readouterr().err


@pytest.fixture()
def rsync_daemon(tmp_path):
    """An rsync daemon on 127.0.0.1 serving one writable module, ``index``; yields its URL."""
    folder, port = tmp_path / "daemon-index", free_port()
    folder.mkdir()
    conf = tmp_path / "rsyncd.conf"
    user = "uid = root\ngid = root\n" if os.geteuid() == 0 else ""
    conf.write_text(f"use chroot = no\npid file = {tmp_path}/rsyncd.pid\n[index]\npath = {folder}\n"
                    f"read only = false\n{user}")
    proc = subprocess.Popen(["rsync", "--daemon", "--no-detach", "--address=127.0.0.1", f"--port={port}",
                             f"--config={conf}"], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    try:
        while True:  # until it listens (or has died)
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"rsync --daemon did not start: {proc.stderr.read()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        yield f"rsync://127.0.0.1:{port}/index", folder
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def test_publish_to_an_rsync_daemon_on_another_address(builder, rsync_daemon):
    reports, index = builder
    url, folder = rsync_daemon
    first = publish(index, url)
    assert read_pointer(folder) == first.generation and answer(folder) == answer(index)
    second = new_generation(reports, index, 1)
    done = publish(index, url)
    assert (done.previous, done.generation) == (first.generation, second) and read_pointer(folder) == second
    copied = folder / GENERATIONS / second
    assert file_checksums(copied) == read_manifest(copied)["files"]
