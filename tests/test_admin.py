"""The admin API: uploads and background rebuilds behind a bearer token."""
import io

import pytest

from qa.app import create_app
from qa.build import BuildLock
from qa.config import SAMPLE_REPORTS
from qa.index import read_pointer

from .conftest import ADMIN_TOKEN, wait_for_job
from .makefiles import probation_pdf

TOKEN = ADMIN_TOKEN
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def pdf_bytes(tmp_path, name="upload.pdf"):
    return probation_pdf(tmp_path / name).read_bytes()


def test_admin_api_is_off_without_a_token(tmp_path, monkeypatch, sample_index_dir):
    monkeypatch.delenv("QA_ADMIN_TOKEN", raising=False)
    client = create_app(sample_index_dir, {"TESTING": True}).test_client()
    r = client.post("/admin/reindex", headers=AUTH)
    assert r.status_code == 404 and "QA_ADMIN_TOKEN" in r.get_json()["error"]["message"]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN},
                                     {"Authorization": "Basic czNjcmV0"}])
def test_missing_or_wrong_token_is_401(admin_app, headers):
    client, reports, _ = admin_app
    before = sorted(p.name for p in reports.iterdir())
    r = client.post("/admin/reports", headers=headers, data={"file": (io.BytesIO(b"text"), "a.txt")})
    assert r.status_code == 401 and r.get_json()["error"]["code"] == "unauthorized"
    assert sorted(p.name for p in reports.iterdir()) == before


def test_upload_is_stored_indexed_and_answerable(admin_app, tmp_path):
    client, reports, index = admin_app
    r = client.post("/admin/reports", headers=AUTH,
                    data={"file": (io.BytesIO(pdf_bytes(tmp_path)), "Kent CRC inspection.pdf")})
    assert r.status_code == 202, r.get_json()
    body = r.get_json()
    assert body["stored"] == ["Kent CRC inspection.pdf"]
    job = wait_for_job(client, body["job"])
    assert job["status"] == "succeeded" and job["result"]["extracted"] == ["Kent CRC inspection.pdf"]
    assert job["progress"]["done"] == job["progress"]["total"] == 2
    answer = client.post("/ask", json={"question": "quality of assessment for unpaid work"}).get_json()
    assert answer["index_version"] == job["result"]["generation"]
    assert answer["passages"][0]["citation"]["source"] == "Kent CRC inspection.pdf"


@pytest.mark.parametrize("name,data,status,code", [
    ("broken.pdf", b"%PDF-1.7 truncated", 422, "rejected_file"),
    ("empty.txt", b"", 422, "rejected_file"),
    ("report.docx", b"PK\x03\x04 word", 415, "unsupported_type"),
    ("noext", b"some text here", 415, "unsupported_type"),
])
def test_a_bad_upload_is_refused_with_its_reason_and_nothing_changes(admin_app, name, data, status, code):
    client, reports, index = admin_app
    before, generation = sorted(p.name for p in reports.iterdir()), read_pointer(index)
    r = client.post("/admin/reports", headers=AUTH, data={"file": (io.BytesIO(data), name)})
    assert r.status_code == status and r.get_json()["error"]["code"] == code
    assert len(r.get_json()["error"]["message"]) > 15
    assert sorted(p.name for p in reports.iterdir()) == before and read_pointer(index) == generation


def test_one_bad_file_in_a_batch_stores_none_of_them(admin_app, tmp_path):
    client, reports, _ = admin_app
    before = sorted(p.name for p in reports.iterdir())
    r = client.post("/admin/reports", headers=AUTH, data={"file": [
        (io.BytesIO(pdf_bytes(tmp_path)), "good.pdf"), (io.BytesIO(b"%PDF-1.7 x"), "bad.pdf")]})
    assert r.status_code == 422 and "bad.pdf" in r.get_json()["error"]["message"]
    assert sorted(p.name for p in reports.iterdir()) == before


@pytest.mark.parametrize("given,stored", [
    ("../../etc/evil.txt", "evil.txt"),
    (".hidden.txt", "hidden.txt"),
    ("rap\x00port\x1b.txt", "rapport.txt"),
    ("отчёт о проверке.txt", "отчёт о проверке.txt"),
    ("a/b/<script>.txt", "_script_.txt"),
])
def test_upload_names_cannot_leave_the_reports_folder(admin_app, given, stored):
    client, reports, _ = admin_app
    r = client.post("/admin/reports", headers=AUTH,
                    data={"file": (io.BytesIO(b"Unpaid work was well organised in every region we visited."), given)})
    assert r.status_code == 202, r.get_json()
    assert r.get_json()["stored"] == [stored]
    assert (reports / stored).is_file()
    wait_for_job(client, r.get_json()["job"])


def test_safe_filename_drops_every_path_part():
    from qa.admin import safe_filename

    assert safe_filename("..\\..\\windows\\evil.PDF") == "evil.pdf"
    assert safe_filename("../") == "report"
    assert safe_filename("x" * 300 + ".txt") == "x" * 120 + ".txt"


def test_one_rebuild_at_a_time(admin_app):
    client, _, index = admin_app
    lock = BuildLock(index).acquire()
    try:
        r = client.post("/admin/reindex", headers=AUTH)
        assert r.status_code == 409 and r.get_json()["error"]["code"] == "conflict"
    finally:
        lock.release()
    r = client.post("/admin/reindex", headers=AUTH)
    assert r.status_code == 202
    job = wait_for_job(client, r.get_json()["job"])
    assert job["status"] == "succeeded" and job["result"]["reports"] == 1


def test_unknown_job_is_404(admin_app):
    client, _, _ = admin_app
    assert client.get("/admin/jobs/" + "0" * 32, headers=AUTH).status_code == 404
    assert client.get("/admin/jobs/../../etc/passwd", headers=AUTH).status_code == 404


def test_uploads_into_the_bundled_sample_are_refused(tmp_path, monkeypatch, sample_index_dir):
    monkeypatch.setenv("QA_ADMIN_TOKEN", TOKEN)
    client = create_app(sample_index_dir, {"TESTING": True}, reports_dir=SAMPLE_REPORTS).test_client()
    r = client.post("/admin/reports", headers=AUTH,
                    data={"file": (io.BytesIO(b"Unpaid work was well organised in the region."), "x.txt")})
    assert r.status_code == 409 and "--reports" in r.get_json()["error"]["message"]
