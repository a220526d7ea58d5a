"""A short human summary of a screening report (stderr; stdout carries the JSON)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table


def _media_line(media: dict) -> str:
    if "width" not in media:
        return media.get("sha256", "")[:12]
    audio = media.get("audio_codec") or "no audio"
    return (
        f"{media['container']} {media['width']}x{media['height']} {media['fps']:.2f} fps "
        f"{media['duration_s']:.1f} s, {media['video_codec']} / {audio}"
    )


def render_summary(console: Console, report: dict) -> None:
    """Print the verdict lines a reviewer or operator looks at first."""
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_row("submission", report["submission_id"])
    style = {"screened": "green", "rejected": "yellow", "failed": "red"}.get(report["status"], "white")
    table.add_row("status", f"[{style}]{report['status']}[/]")
    if report.get("error"):
        table.add_row("error", f"{report['error']['code']}: {report['error']['message']}")
    table.add_row("media", _media_line(report.get("media", {})))
    if report.get("rendition"):
        r = report["rendition"]
        table.add_row("rendition", f"{r['mode']} {r['width']}x{r['height']}")
    if report.get("presence"):
        p = report["presence"]
        table.add_row("presence", f"{p['verdict']} ({p.get('teacher_seconds', 0):.0f} s of teacher)")
    if report.get("keyframes") is not None:
        table.add_row("keyframes", str(len(report["keyframes"])))
    if report.get("duplicates"):
        table.add_row("duplicates", ", ".join(d["submission_id"] for d in report["duplicates"]))
    if report.get("timings"):
        table.add_row("timings", ", ".join(f"{k} {v:.1f}s" for k, v in report["timings"].items()))
    console.print(table)
