"""Reports of a found labeling: cluster sizes and the most typical members of each cluster.

A member's typicality is the cosine between its (L2-normalised) representation and its
cluster's mean direction; the most typical members are those closest to that direction. With
true labels, each cluster also shows the class Hungarian matching assigns it and its three
largest classes. Outputs:

* ``clusters.json``: the summary as data;
* ``report.md``: the same as Markdown (texts quoted, images by file name);
* ``report.html``: one self-contained page (inline CSS, images as embedded thumbnails, no
  scripts, nothing fetched), with an overview table and one ``<section class="cluster">`` per
  cluster, empty clusters included.
"""

from __future__ import annotations

import base64
import html
import io
import os
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..io import l2_normalize, write_json_atomic, write_text_atomic
from .metrics import hungarian_mapping

__all__ = [
    "PALETTE",
    "cluster_colour",
    "cluster_summary",
    "render_html",
    "render_markdown",
    "thumbnail_data_uri",
    "typical_members",
    "write_report",
]

#: Characters of a text shown in the reports (longer texts are cut with an ellipsis).
MAX_TEXT = 300

#: Colour of cluster c in the HTML report: ``PALETTE[c % len(PALETTE)]`` (a swatch in the
#: overview and the left border of the cluster's section).
PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)


def cluster_colour(cluster: int) -> str:
    """Hex colour of a cluster in the HTML report."""
    return PALETTE[cluster % len(PALETTE)]


def typical_members(
    x: np.ndarray, labels: np.ndarray, n_clusters: int, top: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The ``top`` most typical members of every cluster.

    Args:
        x: representation (n, d); rows are L2-normalised here.
        labels: cluster ids (n,) in ``0..n_clusters-1``.
        n_clusters: number of clusters k.
        top: members to return per cluster.

    Returns:
        For each cluster c in ``0..k-1``: ``(indices (m,), cosines (m,))`` with
        ``m = min(top, size of c)``, most typical first (ties: lower index first).
    """
    x = l2_normalize(x)
    result = []
    for c in range(n_clusters):
        members = np.flatnonzero(labels == c)
        if members.size == 0:
            result.append((members, np.zeros(0, dtype=np.float32)))
            continue
        centre = x[members].mean(axis=0)
        centre = centre / max(float(np.linalg.norm(centre)), 1e-12)
        cos = x[members] @ centre
        order = np.lexsort((members, -cos))[:top]
        result.append((members[order], cos[order]))
    return result


def cluster_summary(
    labels: np.ndarray,
    n_clusters: int,
    x: np.ndarray,
    *,
    top: int = 10,
    truth: np.ndarray | None = None,
    class_names: dict[int, str] | None = None,
) -> list[dict[str, Any]]:
    """One record per cluster: id, size, share, typical members, and class make-up with truth.

    Args:
        labels: found cluster ids (n,) in ``0..n_clusters-1``.
        n_clusters: k.
        x: representation (n, d) that defines typicality.
        top: typical members per cluster.
        truth: true labels (n,), or None.
        class_names: true label -> name, for display.

    Returns:
        List of k dicts: ``cluster``, ``size``, ``share``, ``typical`` (row indices),
        ``typical_cosine``, ``cohesion`` (mean cosine of all members to the mean direction,
        None when empty) and, with truth, ``matched_class``, ``matched_name``, ``purity`` (share
        of the matched class) and ``top_classes`` (up to 3 of ``{class, name, count, share}``).
    """
    labels = np.asarray(labels, dtype=np.int64)
    n = labels.shape[0]
    typical = typical_members(x, labels, n_clusters, top)
    x_norm = l2_normalize(x)
    mapping = hungarian_mapping(truth, labels) if truth is not None else {}
    names = class_names or {}
    records = []
    for c in range(n_clusters):
        members = np.flatnonzero(labels == c)
        idx, cos = typical[c]
        record: dict[str, Any] = {
            "cluster": c,
            "size": int(members.size),
            "share": float(members.size / n) if n else 0.0,
            "typical": [int(i) for i in idx],
            "typical_cosine": [round(float(v), 4) for v in cos],
            "cohesion": None,
        }
        if members.size:
            centre = x_norm[members].mean(axis=0)
            record["cohesion"] = float(np.linalg.norm(centre))  # = mean cosine to the mean dir.
        if truth is not None:
            matched = mapping.get(c)
            record["matched_class"] = matched
            record["matched_name"] = names.get(matched, None if matched is None else str(matched))
            classes, counts = (np.unique(truth[members], return_counts=True) if members.size
                               else (np.zeros(0, np.int64), np.zeros(0, np.int64)))
            record["purity"] = (float(counts[classes == matched].sum() / members.size)
                                if members.size and matched is not None else None)
            order = np.argsort(-counts, kind="stable")[:3]
            record["top_classes"] = [
                {"class": int(classes[i]), "name": names.get(int(classes[i]), str(classes[i])),
                 "count": int(counts[i]), "share": float(counts[i] / members.size)}
                for i in order
            ]
        records.append(record)
    return records


def thumbnail_data_uri(path: str, size: int = 96) -> str:
    """A PNG thumbnail (longest side at most ``size``) of an image file, as a data: URI."""
    from ..embed.images import open_rgb

    img = open_rgb(path)
    img.thumbnail((size, size))
    buffer = io.BytesIO()
    img.save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _short(text: str, limit: int = MAX_TEXT) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


#: Characters with a meaning in Markdown inline text or table cells.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|])")


def _md(text: str) -> str:
    """``text`` as literal Markdown: HTML (``<script>``, ``&...;``) and Markdown syntax (links,
    emphasis, code, table pipes) are shown, never interpreted."""
    return _MD_SPECIAL.sub(r"\\\1", html.escape(text, quote=False))


def _md_code(text: str) -> str:
    """``text`` as a Markdown code span (nothing inside is interpreted), whatever it holds."""
    run = max((len(m) for m in re.findall("`+", text)), default=0)
    fence, pad = "`" * (run + 1), " " if run else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _pct(share: float) -> str:
    return f"{100 * share:.1f}%"


_CSS = """
body{font-family:"DejaVu Sans",Arial,sans-serif;margin:24px;color:#1d2330;background:#fff;
 max-width:1100px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:0 0 6px}
.sub{color:#556;font-size:13px;margin-bottom:14px}
table{border-collapse:collapse;font-size:13px;margin:8px 0 18px}
th,td{border-bottom:1px solid #dde;padding:4px 10px;text-align:left}
th{background:#f1f3f8}
.bar{display:inline-block;height:10px;background:#4a6fd1;vertical-align:middle}
.metrics span{display:inline-block;margin-right:18px;font-size:14px}
.metrics b{font-size:16px}
.cluster{border:1px solid #d6dbe8;border-left-width:8px;border-radius:6px;
 padding:10px 14px;margin:12px 0;background:#fbfcfe}
.swatch{display:inline-block;width:12px;height:12px;margin-right:6px;vertical-align:middle}
.meta{color:#556;font-size:12px;margin-bottom:6px}
ol{margin:4px 0 0 0;padding-left:22px;font-size:13px}li{margin:2px 0}
.grid{display:flex;flex-wrap:wrap;gap:6px}
figure{margin:0;width:72px;text-align:center}
figure img{width:64px;height:64px;object-fit:contain;image-rendering:pixelated;
 border:1px solid #ccd;background:#fff}
figcaption{font-size:9px;color:#667;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.empty{color:#a33;font-size:13px}
"""


def _composition(record: dict[str, Any]) -> str:
    if "top_classes" not in record or not record["top_classes"]:
        return ""
    return ", ".join(f"{_md(str(c['name']))} {_pct(c['share'])}" for c in record["top_classes"])


def render_html(
    clusters: list[dict[str, Any]],
    items: Sequence[str],
    modality: str,
    *,
    title: str,
    subtitle: str = "",
    metrics: dict[str, Any] | None = None,
    thumbnails: dict[int, str] | None = None,
) -> str:
    """The self-contained HTML report.

    Args:
        clusters: :func:`cluster_summary` records.
        items: per row, the text (modality ``text``) or the display name of the image.
        modality: ``text`` or ``images``.
        title, subtitle: page heading.
        metrics: ``{"acc", "nmi", "ari"}`` or None.
        thumbnails: row index -> data: URI, for the typical images.
    """
    esc = html.escape
    thumbnails = thumbnails or {}
    truth = any("top_classes" in c for c in clusters)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        f'<div class="sub">{esc(subtitle)}</div>' if subtitle else "",
    ]
    if metrics is not None:
        parts.append('<div class="metrics" id="metrics">' + "".join(
            f"<span>{name.upper()} <b>{metrics[name]:.3f}</b></span>"
            for name in ("acc", "nmi", "ari") if name in metrics
        ) + "</div>")
    head = "<tr><th>cluster</th><th>size</th><th>share</th>"
    head += "<th>matched class</th><th>purity</th><th>largest classes</th>" if truth else ""
    parts.append(f'<table id="overview"><thead>{head}</tr></thead><tbody>')
    largest = max((c["share"] for c in clusters), default=0.0) or 1.0
    for c in clusters:
        row = (f'<tr><td><span class="swatch" style="background:{cluster_colour(c["cluster"])}">'
               f'</span><a href="#cluster-{c["cluster"]}">{c["cluster"]}</a></td>'
               f'<td>{c["size"]}</td><td><span class="bar" style="width:'
               f'{int(120 * c["share"] / largest)}px"></span> {_pct(c["share"])}</td>')
        if truth:
            purity = "" if c.get("purity") is None else _pct(c["purity"])
            row += (f"<td>{esc(str(c.get('matched_name') or '-'))}</td><td>{purity}</td>"
                    f"<td>{esc(_composition(c))}</td>")
        parts.append(row + "</tr>")
    parts.append("</tbody></table>")
    for c in clusters:
        cid = c["cluster"]
        parts.append(f'<section class="cluster" id="cluster-{cid}" data-cluster="{cid}" '
                     f'data-size="{c["size"]}" style="border-left-color:{cluster_colour(cid)}">')
        heading = f"Cluster {cid} \u00b7 {c['size']} members ({_pct(c['share'])})"
        if truth and c.get("matched_name") is not None:
            heading += f" \u00b7 matched to {c['matched_name']}"
        parts.append(f"<h2>{esc(heading)}</h2>")
        if c["size"] == 0:
            parts.append('<div class="empty">empty: no row was assigned to this cluster</div>')
            parts.append("</section>")
            continue
        meta = f"cohesion {c['cohesion']:.3f}; most typical members first"
        if truth:
            meta += f"; classes: {_composition(c)}"
        parts.append(f'<div class="meta">{esc(meta)}</div>')
        if modality == "images":
            parts.append('<div class="grid">')
            for i in c["typical"]:
                src = thumbnails.get(i, "")
                name = items[i]
                parts.append(f'<figure><img src="{esc(src)}" alt="{esc(name)}" '
                             f'title="{esc(name)}"><figcaption>{esc("/".join(name.split("/")[-2:]))}'
                             "</figcaption></figure>")
            parts.append("</div>")
        else:
            parts.append("<ol>" + "".join(
                f'<li title="row {i}">{esc(_short(items[i]))}</li>' for i in c["typical"]
            ) + "</ol>")
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(p for p in parts if p) + "\n"


def render_markdown(
    clusters: list[dict[str, Any]], items: Sequence[str], modality: str, *, title: str,
    subtitle: str = "", metrics: dict[str, Any] | None = None,
) -> str:
    """The report as Markdown: metrics, an overview table, typical members of each cluster."""
    truth = any("top_classes" in c for c in clusters)
    lines = [f"# {_md(title)}", ""]
    if subtitle:
        lines += [_md(subtitle), ""]
    if metrics is not None:
        lines += ["ACC {acc:.3f} | NMI {nmi:.3f} | ARI {ari:.3f}".format(**metrics), ""]
    header = "| cluster | size | share |" + (" matched class | purity | largest classes |"
                                              if truth else "")
    lines += [header, "|" + "---|" * (header.count("|") - 1)]
    for c in clusters:
        row = f"| {c['cluster']} | {c['size']} | {_pct(c['share'])} |"
        if truth:
            purity = "" if c.get("purity") is None else _pct(c["purity"])
            row += f" {_md(str(c.get('matched_name') or '-'))} | {purity} | {_composition(c)} |"
        lines.append(row)
    for c in clusters:
        lines += ["", f"## Cluster {c['cluster']} ({c['size']} members, {_pct(c['share'])})", ""]
        if c["size"] == 0:
            lines.append("(empty)")
            continue
        for rank, i in enumerate(c["typical"], start=1):
            shown = _short(items[i]).replace("\n", " ")
            lines.append(f"{rank}. {_md(shown)}" if modality == "text"
                         else f"{rank}. {_md_code(shown)}")
    return "\n".join(lines) + "\n"


def write_report(
    directory: str | os.PathLike[str],
    clusters: list[dict[str, Any]],
    items: Sequence[str],
    modality: str,
    *,
    title: str,
    subtitle: str = "",
    metrics: dict[str, Any] | None = None,
    image_files: Sequence[str] | None = None,
    thumbnail_size: int = 96,
) -> list[str]:
    """Write ``clusters.json``, ``report.md`` and ``report.html`` into ``directory``.

    Args:
        directory: an existing folder (e.g. the temporary folder of an atomic output).
        clusters: :func:`cluster_summary` records.
        items: texts, or image display names, one per row.
        modality: ``text`` or ``images``.
        title, subtitle, metrics: see :func:`render_html`.
        image_files: for images, the file of every row (thumbnails are made from it).
        thumbnail_size: longest side of the thumbnails, in pixels.

    Returns:
        The names of the files written.
    """
    thumbnails: dict[int, str] = {}
    if modality == "images" and image_files is not None:
        for c in clusters:
            for i in c["typical"]:
                thumbnails[i] = thumbnail_data_uri(image_files[i], thumbnail_size)
    records = []
    for c in clusters:
        record = dict(c)
        record["typical_items"] = [_short(items[i], 1000) for i in c["typical"]]
        records.append(record)
    folder = os.fspath(directory)
    write_json_atomic(os.path.join(folder, "clusters.json"), records)
    write_text_atomic(os.path.join(folder, "report.md"), render_markdown(
        clusters, items, modality, title=title, subtitle=subtitle, metrics=metrics))
    write_text_atomic(os.path.join(folder, "report.html"), render_html(
        clusters, items, modality, title=title, subtitle=subtitle, metrics=metrics,
        thumbnails=thumbnails))
    return ["clusters.json", "report.md", "report.html"]
