"""Progress events keep Docker's JSON shape (the daemon streams them unchanged)."""

from runtime.images import progress as pg


def test_detail_event_shape():
    event = pg.detail("Downloading", "0123456789ab", 1_064_000, 2_123_000)
    assert event == {"status": "Downloading", "id": "0123456789ab",
                     "progressDetail": {"current": 1_064_000, "total": 2_123_000},
                     "progress": "[=========================>                         ]  1.064MB/2.123MB"}


def test_status_event_shape():
    assert pg.status("Pull complete", "abc") == {"status": "Pull complete", "id": "abc"}
    assert pg.status("Digest: sha256:x") == {"status": "Digest: sha256:x"}


def test_short_id_and_sizes():
    assert pg.short_id("sha256:" + "ab" * 32) == "abababababab"
    assert pg.human_size(212) == "212B" and pg.human_size(3_001_213) == "3.001MB"
    assert pg.progress_bar(5, 0) == "      5B"
    assert pg.progress_bar(10, 10).startswith("[" + "=" * 50 + ">]")


def test_render_plain():
    assert pg.render_plain({"status": "Pulling fs layer", "id": "abc"}) == "abc: Pulling fs layer"
    assert pg.render_plain({"error": "boom"}) == "error: boom"
