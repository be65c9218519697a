"""The report viewer's layout: a report's text cut into passage regions with page markers and headings."""
from __future__ import annotations

from .index import Index


def passage_regions(index: Index, report_id: str) -> list[dict]:
    """The report text cut into passage regions, each holding its text, page markers and headings.

    Passages overlap by a sentence; the viewer shows each character once, so a passage's region runs
    from its start to the next passage's start, and its element carries its ``chunk_id``.
    """
    text, layout = index.report_text(report_id), index.report_layout(report_id)
    chunks = index.chunks_of(report_id)
    cuts = [(int(index.chunk_start[c]), index.chunk_id(int(c))) for c in chunks]
    bounds = [(0, None)] + cuts if not cuts or cuts[0][0] > 0 else cuts
    marks = sorted([(s, 0, ("page", n, s)) for n, (s, _e) in enumerate(layout["pages"], start=1)]
                   + [(s, 1, ("heading", e, level)) for s, e, _t, level in layout["headings"]])
    regions = []
    m = 0
    for i, (start, cid) in enumerate(bounds):
        end = bounds[i + 1][0] if i + 1 < len(bounds) else len(text)
        items, pos = [], start
        while m < len(marks) and marks[m][0] < end:
            at, _, mark = marks[m]
            m += 1
            at = max(at, pos)
            if at > pos:
                items.append({"kind": "text", "text": text[pos:at]})
                pos = at
            if mark[0] == "page":
                items.append({"kind": "page", "page": mark[1]})
            else:
                stop = min(mark[1], end)
                items.append({"kind": "heading", "text": text[pos:stop], "level": min(int(mark[2]) + 1, 6)})
                pos = stop
        if end > pos:
            items.append({"kind": "text", "text": text[pos:end]})
        regions.append({"id": cid, "items": items})
    return regions
