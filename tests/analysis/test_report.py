"""Tests for humelabel.report: typical members, cluster summaries, Markdown and HTML pages."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from embed_helpers import parse

from humelabel.analysis.report import (
    cluster_colour,
    cluster_summary,
    render_html,
    typical_members,
    write_report,
)


def test_typical_members_are_closest_to_the_cluster_direction() -> None:
    x = np.array([[1, 0], [0.9, 0.1], [0.5, 0.5], [0, 1], [0.1, 0.9]], dtype=np.float32)
    labels = np.array([0, 0, 0, 1, 1])
    result = typical_members(x, labels, 3, top=2)
    assert len(result) == 3
    idx0, cos0 = result[0]
    assert list(idx0) == [1, 0] and cos0[0] >= cos0[1]
    assert set(result[1][0]) == {3, 4}
    assert result[2][0].size == 0  # empty cluster


def test_cluster_summary_with_truth_and_names() -> None:
    rng = np.random.default_rng(0)
    truth = np.repeat([0, 1, 2], 20)
    labels = truth.copy()
    labels[:5] = 1  # five of class 0 land in cluster 1
    x = np.eye(3)[truth] + 0.05 * rng.normal(size=(60, 3))
    names = {0: "zero", 1: "one", 2: "two"}
    summary = cluster_summary(labels, 4, x, top=3, truth=truth, class_names=names)
    assert [c["size"] for c in summary] == [15, 25, 20, 0]
    assert summary[0]["matched_name"] == "zero" and summary[0]["purity"] == 1.0
    assert summary[1]["matched_class"] == 1 and summary[1]["purity"] == pytest.approx(0.8)
    assert summary[1]["top_classes"][0] == {"class": 1, "name": "one", "count": 20,
                                            "share": 0.8}
    assert summary[3]["typical"] == [] and summary[3]["cohesion"] is None
    assert summary[3]["matched_class"] is None
    assert all(len(c["typical"]) == min(3, c["size"]) for c in summary)
    assert sum(c["share"] for c in summary) == pytest.approx(1.0)
    json.dumps(summary)  # plain JSON types


def test_html_has_one_section_per_cluster_and_no_external_resources() -> None:
    texts = [f"text <{i}> & more" for i in range(12)]
    labels = np.array([0, 1, 2] * 4)
    x = np.eye(4)[labels]
    summary = cluster_summary(labels, 4, x, top=2)
    page = render_html(summary, texts, "text", title="T <1>", metrics={
        "acc": 0.5, "nmi": 0.25, "ari": 0.125})
    parsed = parse(page)
    assert [s["data-cluster"] for s in parsed.sections] == ["0", "1", "2", "3"]
    assert [s["id"] for s in parsed.sections] == [f"cluster-{c}" for c in range(4)]
    assert cluster_colour(2) in parsed.sections[2]["style"]
    assert parsed.items == 6  # 2 typical texts for each non-empty cluster
    assert parsed.scripts == 0 and parsed.external == []
    assert "text &lt;0&gt; &amp; more" in page and "<0>" not in page  # escaped
    assert "ACC <b>0.500</b>" in page and "empty: no row" in page


def test_write_report_with_image_thumbnails(tmp_path: Path) -> None:
    from PIL import Image

    files = []
    for i, colour in enumerate([(255, 0, 0), (0, 255, 0), (0, 0, 255), (250, 10, 10)]):
        path = tmp_path / f"img{i}.png"
        Image.new("RGB", (40, 30), colour).save(path)
        files.append(str(path))
    labels = np.array([0, 1, 1, 0])
    x = np.array([[1, 0, 0], [0, 1, 0], [0, 0.9, 0.1], [0.9, 0, 0]])
    summary = cluster_summary(labels, 2, x, top=5)
    out = tmp_path / "report"
    out.mkdir()
    written = write_report(out, summary, [Path(f).name for f in files], "images",
                           title="images", image_files=files, thumbnail_size=24)
    assert written == ["clusters.json", "report.md", "report.html"]
    parsed = parse((out / "report.html").read_text())
    assert len(parsed.sections) == 2 and len(parsed.images) == 4
    assert all(src.startswith("data:image/png;base64,") for src in parsed.images)
    records = json.loads((out / "clusters.json").read_text())
    assert records[0]["typical_items"] == ["img0.png", "img3.png"]
    md = (out / "report.md").read_text()
    assert "## Cluster 1 (2 members, 50.0%)" in md and "`img1.png`" in md
