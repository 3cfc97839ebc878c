"""The README's Python examples run as written, against the emulator."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import aiohttp
import anyio
import pytest
from aiohttp import web

from verifik_async.testing import EmulatorServer

from ._readme import README, readme_blocks

pytestmark = pytest.mark.anyio


@pytest.fixture
def workdir(tmp_path: Path, png) -> Path:
    """A folder with the files the examples name."""
    (tmp_path / "selfie.jpg").write_bytes(png(1))
    (tmp_path / "id_photo.jpg").write_bytes(png(1))
    (tmp_path / "selfies").mkdir()
    for i in range(1, 6):
        (tmp_path / "selfies" / f"user{i}.png").write_bytes(png(i))
    return tmp_path


async def _run_example(code: str, server: EmulatorServer, cwd: Path) -> str:
    env = {**os.environ, "VERIFIK_API_TOKEN": server.token, "VERIFIK_BASE_URL": server.base_url}
    result = await anyio.run_process(
        [sys.executable, "-W", "error", "-c", code], cwd=cwd, env=env, check=False
    )
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    return result.stdout.decode()


def test_the_tested_blocks_are_found() -> None:
    """The README still has every example this file runs."""
    assert {"quickstart", "aiohttp-app", "bulk-script", "worker"} <= set(readme_blocks())


async def test_quickstart(workdir: Path) -> None:
    """The quick start prints a verdict and scores (the selfie equals the ID photo)."""
    async with EmulatorServer() as server:
        out = await _run_example(readme_blocks()["quickstart"], server, workdir)
    verdict, score, _liveness = out.split()
    assert verdict in {"verified", "not_live"}
    assert float(score) == 1.0
    assert len(server.requests) == 1


async def test_bulk_script(workdir: Path) -> None:
    """The bulk script prints one line per selfie and the summary table."""
    async with EmulatorServer() as server:
        out = await _run_example(readme_blocks()["bulk-script"], server, workdir)
    lines = out.splitlines()
    assert sorted(line.split()[0] for line in lines[:5]) == [f"user{i}" for i in range(1, 6)]
    assert any(line.startswith("jobs") and line.split()[-1] == "5" for line in lines)


async def test_worker(workdir: Path) -> None:
    """The event-loop worker answers a queued request and exits cleanly."""
    async with EmulatorServer() as server:
        out = await _run_example(readme_blocks()["worker"], server, workdir)
    assert out.strip() in {"verified", "not_live"}


async def test_aiohttp_app(monkeypatch: pytest.MonkeyPatch, png) -> None:
    """The web backend example serves /kyc with one client for the app's lifetime."""
    async with EmulatorServer() as server:
        monkeypatch.setenv("VERIFIK_API_TOKEN", server.token)
        monkeypatch.setenv("VERIFIK_BASE_URL", server.base_url)
        namespace: dict[str, object] = {"__name__": "readme_example"}
        exec(readme_blocks()["aiohttp-app"], namespace)
        app = namespace["app"]
        assert isinstance(app, web.Application)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            async with aiohttp.ClientSession() as http:
                form = aiohttp.FormData()
                form.add_field("selfie", png(3), filename="selfie.png")
                form.add_field("id_photo", png(3), filename="id.png")
                async with http.post(f"http://127.0.0.1:{port}/kyc", data=form) as response:
                    body = await response.json()
        finally:
            await runner.cleanup()
    assert response.status == 200
    assert body["verdict"] in {"verified", "not_live"}
    assert len(server.requests) == 1


def readme_cli_commands() -> list[str]:
    """Every `python -m verifik_async ...` command in the README's shell blocks."""
    text = README.read_text(encoding="utf-8")
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.DOTALL):
        for line in block.splitlines():
            if "python -m verifik_async " in line:
                commands.append(line[line.index("python -m verifik_async ") :].strip())
    return commands


def test_the_main_job_command_is_in_the_readme() -> None:
    """The README's main job is the bulk batch of the example manifest on the emulator."""
    assert any(
        c.startswith("python -m verifik_async batch examples/manifest.csv --emulator")
        for c in readme_cli_commands()
    )


@pytest.mark.parametrize("command", readme_cli_commands())
def test_readme_cli_command_runs_as_written(command: str, tmp_path: Path) -> None:
    """Each command-line example in the README exits 0 from a copy of the repository's examples."""
    shutil.copytree(README.parent / "examples", tmp_path / "examples")
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERIFIK_")}
    args = shlex.split(command)
    done = subprocess.run(
        [sys.executable, *args[1:]],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
