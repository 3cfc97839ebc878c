"""The README examples of the sibling endpoints and token renewal run as written.

Each example is read from README.md and runs as a script, with warnings as
errors, in a folder holding the files it names, against the emulator it
starts itself.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from verifik_async.testing import liveness_score

from ._readme import readme_blocks

EXAMPLES = {
    name.removeprefix("endpoint-"): code
    for name, code in readme_blocks().items()
    if name.startswith("endpoint-")
}


def test_every_endpoint_has_a_tested_example() -> None:
    """The README has a tested example for every sibling endpoint, renewal and bulk use."""
    assert set(EXAMPLES) == {
        "compare",
        "compare-live",
        "liveness",
        "detect",
        "search",
        "verify",
        "token",
        "batch",
    }


@pytest.fixture
def run(
    tmp_path: Path,
    png: Callable[..., bytes],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Callable[[str], list[str]]:
    """Run an example as a script (warnings are errors); return its output lines.

    It runs in a folder with the files it names: the selfie and the ID photo
    are the same image; ``selfies/`` holds three others.
    """
    (tmp_path / "selfie.jpg").write_bytes(png(1))
    (tmp_path / "id_photo.jpg").write_bytes(png(1))
    (tmp_path / "selfies").mkdir()
    for i in range(1, 4):
        (tmp_path / "selfies" / f"user{i}.png").write_bytes(png(i))
    monkeypatch.chdir(tmp_path)

    def run_example(name: str) -> list[str]:
        capsys.readouterr()
        exec(compile(EXAMPLES[name], f"<README example {name}>", "exec"), {"__name__": "__main__"})
        return capsys.readouterr().out.splitlines()

    return run_example


def test_compare_example(run: Callable[[str], list[str]]) -> None:
    """The compare example matches the selfie with its identical ID photo."""
    assert run("compare") == ["True 1.0"]


def test_compare_live_example(run: Callable[[str], list[str]], png: Callable[..., bytes]) -> None:
    """The compare-live example prints the verdict, score and liveness score."""
    live = liveness_score(png(1))
    assert run("compare-live") == [f"{'verified' if live > 0.6 else 'not_live'} 1.0 {live}"]


def test_liveness_example(run: Callable[[str], list[str]], png: Callable[..., bytes]) -> None:
    """The liveness example prints whether the selfie passed and its score."""
    live = liveness_score(png(1))
    assert run("liveness") == [f"{live > 0.6} {live}"]


def test_detect_example(run: Callable[[str], list[str]]) -> None:
    """The detect example prints one face's box, landmark names and attributes."""
    box, attributes = run("detect")
    x, y, width, height, landmarks = box.split(" ", 4)
    assert float(width) == float(height) >= 224 and float(x) >= 25 and float(y) >= 25
    assert "left_eye" in landmarks
    age, gender = attributes.split()
    assert 18 <= float(age) < 80 and gender in {"female", "male"}


def test_search_example(run: Callable[[str], list[str]]) -> None:
    """The search example finds the enrolled person in the collection."""
    assert run("search") == ["Ana 1.0 True", "found"]


def test_verify_example(run: Callable[[str], list[str]]) -> None:
    """The verify example matches the selfie with the stored person."""
    assert run("verify") == ["True 1.0"]


def test_token_example(run: Callable[[str], list[str]]) -> None:
    """The token example renews a token an hour from expiry, then renews explicitly."""
    assert run("token") == ["renewed", "bearer True"]


def test_batch_example(run: Callable[[str], list[str]]) -> None:
    """The batch example streams liveness, compare and search jobs and counts them."""
    lines = run("batch")
    outcomes = dict(line.split(" ", 1) for line in lines[:-1])
    assert outcomes["compare"] == "matched" and outcomes["search"] == "found"
    assert {key for key in outcomes if key.startswith("liveness:")} == {
        f"liveness:user{i}.png" for i in range(1, 4)
    }
    assert {outcomes[f"liveness:user{i}.png"] for i in range(1, 4)} <= {"live", "not_live"}
    assert lines[-1] == "5 jobs"
