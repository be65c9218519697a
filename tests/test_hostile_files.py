"""Hostile report files, generated here, through the real build (qa.build.build_index).

Each file sits in a reports folder beside the bundled sample and is built in a subprocess whose time
and peak memory (getrusage) are measured and printed: it is rejected with a reason or read safely, the
sample report still answers, and memory and time stay bounded (generous bounds: the machine is shared).
Then all of them alone: the build fails, and the previous generation is untouched and still serving.
"""
from __future__ import annotations

import hashlib
import json
import random
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from qa.answer import ask
from qa.build import build_index
from qa.config import SAMPLE_REPORTS
from qa.errors import BuildError
from qa.index import GENERATIONS, IndexStore, read_pointer

from .makefiles import make_pdf, probation_pdf

MAX_SECONDS = 60  # per build of one hostile file beside the sample (normal: about 1 s)
MAX_RSS_MB = 2048  # peak resident memory of that build process (normal: about 150 MB)
SEED = "how is London CRC doing on public protection?"


# --- PDFs written object by object --------------------------------------------------------------

def raw_pdf(objects: list[bytes]) -> bytes:
    """A PDF with the given objects (1 is the catalog) and a correct cross-reference table."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
TEXT = b"BT /F1 11 Tf 50 780 Td (Inspectors found unpaid work was well organised in every region.) Tj ET\n"


def page_pdf(content: bytes, media_box: bytes = b"0 0 595 842", filters: bytes = b"", kids: int = 1) -> bytes:
    """One page object (referenced ``kids`` times by the page tree) drawing ``content``."""
    tree = b"<< /Type /Pages /Kids [" + b" ".join([b"3 0 R"] * kids) + b"] /Count %d >>" % kids
    return raw_pdf([
        b"<< /Type /Catalog /Pages 2 0 R >>", tree,
        b"<< /Type /Page /Parent 2 0 R /MediaBox [" + media_box + b"] /Resources << /Font << /F1 4 0 R >> >> "
        b"/Contents 5 0 R >>",
        FONT,
        b"<< /Length %d %s >>\nstream\n" % (len(content), filters) + content + b"\nendstream",
    ])


def deflate_zeros(total: int, head: bytes = b"") -> bytes:
    """``head`` then ``total`` zero bytes, deflated (1 GB -> about 1 MB)."""
    z = zlib.compressobj(9)
    parts, block = [z.compress(head)], b"\0" * (1 << 20)
    parts += [z.compress(block) for _ in range(total >> 20)]
    return b"".join(parts) + z.flush()


def bomb_pdf() -> bytes:
    """A 1 MB PDF whose page content stream inflates to 1 GB (pdfium would hold it all in memory)."""
    return page_pdf(deflate_zeros(1 << 30, TEXT), filters=b"/Filter /FlateDecode")


def image_bomb_pdf() -> bytes:
    """A page drawing an honest 18,918 x 18,918 image that inflates to 1 GB: pdfium never decodes
    images to extract text, so the file is read (the text beside it)."""
    side = 18_918
    pixels = deflate_zeros(1 << 30)
    return raw_pdf([
        b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> "
        b"/XObject << /Im1 6 0 R >> >> /Contents 5 0 R >>",
        FONT, b"<< /Length %d >>\nstream\n" % (len(TEXT) + 32) + TEXT + b"q 100 0 0 100 50 50 cm /Im1 Do Q      \nendstream",
        b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceRGB /BitsPerComponent 8 "
        b"/Filter /FlateDecode /Length %d >>\nstream\n" % (side, side, len(pixels)) + pixels + b"\nendstream",
    ])


def bomb_dressed_as_image_pdf() -> bytes:
    """The bomb as the page's content stream, its dictionary claiming to be a 10 x 10 image."""
    return page_pdf(deflate_zeros(1 << 30, TEXT), filters=b"/Filter /FlateDecode /Subtype /Image /Width 10 /Height 10")


def double_bomb_pdf() -> bytes:
    """The same bomb compressed twice ([/FlateDecode /FlateDecode]): only the first layer shows its size."""
    once = deflate_zeros(1 << 30, TEXT)
    return page_pdf(zlib.compress(once, 9), filters=b"/Filter [/FlateDecode /FlateDecode]")


# --- the hostile files ---------------------------------------------------------------------------

def hostile_files(tmp: Path) -> dict[str, tuple[bytes, str | None]]:
    """name -> (bytes, a phrase the rejection must contain, or None when the file must be read)."""
    good = probation_pdf(tmp / "good.pdf").read_bytes()
    encrypted = make_pdf(tmp / "locked.pdf", [[("p", "secret findings on unpaid work")]], encrypt="pw").read_bytes()
    rnd = random.Random(7)
    script = b"<script>var x = '<p>not text</p>'; document.write(x);</script>\n"
    return {
        "truncated.pdf": (good[: len(good) // 3], "truncated or corrupt"),
        "encrypted.pdf": (encrypted, "encrypted"),
        "100000-pages.pdf": (page_pdf(TEXT, kids=100_000), "more than the limit of 5000"),
        "decompression-bomb.pdf": (bomb_pdf(), "inflate to more than"),
        "double-bomb.pdf": (double_bomb_pdf(), "inflate to more than"),
        "bomb-dressed-as-image.pdf": (bomb_dressed_as_image_pdf(), "inflate to more than"),
        "1-gb-image.pdf": (image_bomb_pdf(), None),
        "huge-mediabox.pdf": (page_pdf(TEXT, media_box=b"0 0 1000000000 1000000000"), "outside the PDF limit"),
        "zero-bytes.pdf": (b"", "empty"),
        "zero-bytes.txt": (b"", "empty"),
        "random-bytes.pdf": (rnd.randbytes(200_000), "not a readable PDF"),
        "pdf-header-then-noise.pdf": (b"%PDF-1.7\n" + rnd.randbytes(50_000), "not a readable PDF"),
        "windows-1252.txt": ("Inspectors\u2019 r\u00e9sum\u00e9: the caf\u00e9 programme worked \u2013 mostly.\n"
                             .encode("cp1252"), None),
        "utf-16.txt": ("Inspectors found the supervision of young people was good in Kent.\n".encode("utf-16"), None),
        "shift-jis.md": ("# 報告書\n\n監察官は保護観察の質が向上したと述べた。 Supervision improved.\n".encode("shift_jis"), None),
        "binary.txt": (b"\x00\x01\x02" + rnd.randbytes(5000), "binary"),
        "full-of-script.html": (b"<html><head><title>Scripted</title>" + script * 100_000 +
                                b"</head><body>" + script * 1000 + b"<p>Inspectors found the hostels were safe and "
                                b"well run.</p>" + script * 1000 + b"</body></html>", None),
        "only-script.html": (b"<html><body>" + script * 1000 + b"</body></html>", "no readable text"),
        "deeply-nested.html": (b"<html><body>" + b"<div>" * 100_000 + b"<p>deep text here now</p>" + b"</div>" * 100_000
                               + b"</body></html>", None),  # libxml2 stops at its depth limit: no text, rejected
        "over-the-limit.txt": (b"Inspectors found. " * (2 * 2**20 // 18 + 1), "over the 1 MB limit"),
        "evil..\\..\\windows-path.txt": (b"Probation staff in Wales had manageable caseloads, inspectors found.\n", None),
        "ctrl\x07\x1b[31mname\r.txt": (b"Approved premises in the north were clean and well led, inspectors said.\n", None),
        "отчёт о проверке.txt": (b"The inspection of the Russian-named report found good practice in Leeds.\n", None),
        "報告書.md": (b"# Report\n\nInspectors found that resettlement work in Manchester was improving.\n", None),
        "unsupported.exe": (b"MZ\x90\x00" + b"\x00" * 100, "unsupported file type"),
    }


# (name, status, reason) for the rejected; status "read" for those read safely
EXPECT_READ_TEXT = {
    "windows-1252.txt": "résumé: the café programme worked – mostly",
    "utf-16.txt": "supervision of young people was good in Kent",
    "full-of-script.html": "hostels were safe and well run",
    "evil..\\..\\windows-path.txt": "manageable caseloads",
    "ctrl\x07\x1b[31mname\r.txt": "Approved premises in the north",
    "отчёт о проверке.txt": "good practice in Leeds",
    "報告書.md": "resettlement work in Manchester",
    "shift-jis.md": "Supervision improved",
    "1-gb-image.pdf": "unpaid work was well organised",
}

# One process imports the service once, then builds each folder in a forked child: os.wait4 gives
# the child's own peak RSS and the parent times it, so every file is measured on its own.
BUILD_EACH = r"""
import json, os, sys, time
from qa.build import build_index
from qa.config import Settings
from qa.errors import QAError
jobs = json.loads(sys.stdin.read())
for reports, index, max_file_mb in jobs:
    read_end, write_end = os.pipe()
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        try:
            r = build_index(reports, index, settings=Settings(max_file_mb=max_file_mb))
            out = {"ok": True, "reports": r.reports, "rejected": [[x.file, x.reason] for x in r.rejected],
                   "extracted": r.extracted}
        except QAError as exc:
            out = {"ok": False, "error": exc.message}
        with os.fdopen(write_end, "w") as f:
            f.write(json.dumps(out))
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as f:
        text = f.read()
    _, status, usage = os.wait4(pid, 0)
    out = json.loads(text) if text else {"ok": False, "error": f"child died: status {status}"}
    out["seconds"] = time.perf_counter() - t0
    out["maxrss_mb"] = usage.ru_maxrss / 1024
    print(json.dumps(out), flush=True)
"""


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return hostile_files(tmp_path_factory.mktemp("hostile-src"))


@pytest.fixture(scope="module")
def outcomes(files, tmp_path_factory):
    """Each hostile file beside the sample, built on its own (the over-the-limit file with a limit of
    1 MB, so that it is small to make)."""
    root = tmp_path_factory.mktemp("hostile")
    jobs = []
    for i, (name, (data, _)) in enumerate(files.items()):
        reports, index = root / f"r{i}", root / f"i{i}"
        shutil.copytree(SAMPLE_REPORTS, reports)
        (reports / name).write_bytes(data)
        jobs.append([str(reports), str(index), 1 if name == "over-the-limit.txt" else 100])
    proc = subprocess.run([sys.executable, "-c", BUILD_EACH], input=json.dumps(jobs), capture_output=True, text=True,
                          timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == len(jobs), proc.stdout[-2000:] + proc.stderr[-2000:]
    results = {name: (json.loads(line), Path(job[1])) for name, line, job in zip(files, lines, jobs)}
    print("\nhostile file                          size  outcome  seconds  peak RSS  reason")
    for name, (out, _) in results.items():
        reason = dict(out.get("rejected", [])).get(name, "")
        print(f"{name!r:32.32} {len(files[name][0]):>10,}  {'rejected' if reason else 'read    '} "
              f"{out['seconds']:7.2f} {out['maxrss_mb']:6.0f} MB  {reason[len(name) + 2:][:90]}")
    return results


def test_each_hostile_file_is_rejected_with_its_reason_or_read_safely(files, outcomes):
    for name, (data, reason) in files.items():
        out, _ = outcomes[name]
        assert out["ok"], f"{name}: the build failed: {out}"
        rejected = dict(out["rejected"])
        if reason is not None:
            assert name in rejected, f"{name} was not rejected: {out}"
            assert reason in rejected[name], f"{name}: {rejected[name]!r}"
        elif name in EXPECT_READ_TEXT:
            assert name in out["extracted"], f"{name} was not read: {out}"
        else:  # the parser keeps no text (libxml2's depth limit): either way, with a reason when rejected
            assert name in out["extracted"] or rejected.get(name, "").startswith(name + ":"), out


def test_memory_and_time_per_hostile_file_are_bounded(outcomes):
    for name, (out, _) in outcomes.items():
        assert out["seconds"] < MAX_SECONDS, f"{name}: {out['seconds']:.1f} s"
        assert out["maxrss_mb"] < MAX_RSS_MB, f"{name}: {out['maxrss_mb']:.0f} MB"


def test_the_sample_still_answers_beside_every_hostile_file(outcomes):
    for name, (out, index) in outcomes.items():
        current = IndexStore(index).current()
        body = ask(current, SEED)
        assert "quality of public protection work was variable" in body["passages"][0]["text"], name
        ids = [r["id"] for r in current.reports]
        assert all(rid and set(rid) <= set("abcdefghijklmnopqrstuvwxyz0123456789-") for rid in ids), ids


def test_files_read_safely_keep_their_text_and_no_script(outcomes):
    for name, phrase in EXPECT_READ_TEXT.items():
        out, index = outcomes[name]
        current = IndexStore(index).current()
        record = next(r for r in current.reports if r["file"] == name)
        text = current.report_text(record["id"])
        assert phrase in text, (name, text[:300])
        assert "document.write" not in text and "<script" not in text and "\x1b" not in text


def _tree_digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            h.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def test_a_build_of_only_hostile_files_fails_and_leaves_the_live_generation_untouched(files, tmp_path):
    reports, index = tmp_path / "reports", tmp_path / "index"
    shutil.copytree(SAMPLE_REPORTS, reports)
    build_index(reports, index)
    live = read_pointer(index)
    digest = _tree_digest(index / GENERATIONS / live)
    for path in reports.iterdir():
        path.unlink()
    rejected = {name: reason for name, (data, reason) in files.items()
                if reason is not None and name != "over-the-limit.txt"}  # that one needs QA_MAX_FILE_MB=1
    for name in rejected:
        (reports / name).write_bytes(files[name][0])
    with pytest.raises(BuildError) as failure:
        build_index(reports, index)
    message = failure.value.message
    assert "no report could be indexed" in message and "previous index is untouched" in message
    for name, reason in rejected.items():
        assert reason in message, (name, reason)
    assert read_pointer(index) == live
    assert _tree_digest(index / GENERATIONS / live) == digest
    assert "quality of public protection work was variable" in ask(IndexStore(index).current(), SEED)["passages"][0]["text"]
