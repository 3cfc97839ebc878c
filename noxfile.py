"""Developer tasks: `python -m nox -s tests lint typecheck` (and `demo`, `bench`)."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True


@nox.session
def tests(session: nox.Session) -> None:
    """The whole test suite, warnings as errors (see pyproject.toml)."""
    session.install("-e", ".[test]")
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff: lint and format check."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", "verifik_async", "tests", "benchmarks", "noxfile.py")
    session.run("ruff", "format", "--check", "verifik_async", "tests", "benchmarks", "noxfile.py")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the package."""
    session.install("-e", ".[test]", "mypy>=1.11")
    session.run("mypy", "--strict", "verifik_async")


@nox.session
def demo(session: nox.Session) -> None:
    """The main job: a bulk batch of the example manifest against the built-in emulator."""
    session.install(".")
    session.run(
        "python",
        "-m",
        "verifik_async",
        "batch",
        "examples/manifest.csv",
        "--emulator",
        "--out",
        "results.jsonl",
        "--overwrite",
    )


@nox.session
def bench(session: nox.Session) -> None:
    """The benchmarks against a raw aiohttp loop and httpx (`-- --quick` for a short run)."""
    session.install("-e", ".[bench]")
    session.run("python", "-m", "benchmarks", *session.posargs)
