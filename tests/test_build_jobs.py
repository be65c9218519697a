"""`qa index build --jobs N`: report files read in N processes, and the very same index as with one.

"The same index" is checked byte for byte: the manifest records the SHA-256 of every file of the
generation, so two builds are identical when their manifests are, but for the generation's name and date.
(How much faster it is: bench/build_jobs.py, never a test.)
"""
import shutil

import pytest

from qa.build import build_index
from qa.config import SAMPLE_REPORTS
from qa.errors import BadRequest
from qa.index import GENERATIONS, file_checksums, read_manifest, read_pointer

from .conftest import CORPUS, need_shared
from .makefiles import probation_pdf


def generation_content(index) -> dict:
    folder = index / GENERATIONS / read_pointer(index)
    manifest = read_manifest(folder)
    assert manifest["files"] == file_checksums(folder)
    return {k: v for k, v in manifest.items() if k not in ("generation", "created")}


def outcome(result) -> tuple:
    return (result.reports, result.chunks, result.rejected, result.extracted, result.reused, result.duplicates)


@pytest.mark.shared
def test_two_jobs_build_the_same_index_as_one_on_the_shared_corpus(corpus_index_dir, tmp_path):
    need_shared()
    result = build_index(CORPUS, tmp_path / "jobs2", jobs=2)
    assert result.reports == 17 and len(result.rejected) == 1
    assert generation_content(tmp_path / "jobs2") == generation_content(corpus_index_dir)
    assert (sorted(p.name for p in (tmp_path / "jobs2" / "cache").iterdir())
            == sorted(p.name for p in (corpus_index_dir / "cache").iterdir()))


def test_duplicates_rejections_and_the_cache_come_out_the_same_with_jobs(tmp_path):
    reports = tmp_path / "reports"
    shutil.copytree(SAMPLE_REPORTS, reports)
    probation_pdf(reports / "a.pdf")
    shutil.copy(reports / "a.pdf", reports / "b-copy.pdf")
    (reports / "empty.txt").write_text("")
    (reports / "empty-too.txt").write_text("")  # the same (empty) content as a rejected file: rejected too
    (reports / "broken.pdf").write_bytes(b"%PDF-1.4 truncated")
    (reports / "note.txt").write_text("Unpaid work\n\nUnpaid work placements were well organised in Kent.\n")
    results = {jobs: build_index(reports, tmp_path / f"jobs{jobs}", jobs=jobs) for jobs in (1, 2, 3)}
    assert outcome(results[2]) == outcome(results[1]) == outcome(results[3])
    assert results[1].duplicates == [("b-copy.pdf", "a.pdf")]
    assert sorted(r.file for r in results[1].rejected) == ["broken.pdf", "empty-too.txt", "empty.txt"]
    assert generation_content(tmp_path / "jobs2") == generation_content(tmp_path / "jobs1")
    update = build_index(reports, tmp_path / "jobs2", jobs=2, incremental=True)  # cache written by the workers
    assert update.extracted == [] and len(update.reused) == results[1].reports


def test_jobs_below_one_is_refused(tmp_path):
    with pytest.raises(BadRequest, match="--jobs must be 1 or more"):
        build_index(SAMPLE_REPORTS, tmp_path / "i", jobs=0)
