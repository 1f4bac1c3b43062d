"""Real llama-server processes on 127.0.0.1 for the tests and the benchmarks.

The binary comes from scripts/build_llama_server.sh, built from the same llama.cpp that the
installed llama-cpp-python vendors; `.ci/run` builds it before pytest. Outside CI a missing
binary skips the server tests with the command that builds it; in CI it fails them.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import contextlib
import hashlib
import importlib.metadata
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

BUILD_HINT = "build it with scripts/build_llama_server.sh (about 10 minutes on 2 cores)"


def ci_cache() -> Path:
    """Where the set-up scripts cache what they build: $PLAYGROUND_CI_CACHE, or
    ~/.cache/playground-ci."""
    return Path(os.environ.get("PLAYGROUND_CI_CACHE", Path.home() / ".cache/playground-ci"))


def llama_server_binary() -> Path | None:
    """$PLAYGROUND_LLAMA_SERVER, else the cached build for this llama-cpp-python, else PATH."""
    env = os.environ.get("PLAYGROUND_LLAMA_SERVER")
    if env:
        return Path(env)
    version = importlib.metadata.version("llama-cpp-python")
    cache = ci_cache()
    built = cache / f"llama-server-{version}" / "llama-server"
    if built.is_file():
        return built
    found = shutil.which("llama-server")
    return Path(found) if found else None


def _missing(message: str) -> NoReturn:
    """A server the tests need is not set up: skip with how to set it up, or fail in CI,
    where `.ci/run` sets every one up first."""
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def require_llama_server() -> Path:
    """The binary, or skip (fail in CI) with how to build it."""
    binary = llama_server_binary()
    if binary is None or not binary.is_file():
        _missing(f"llama-server is not built: {BUILD_HINT}")
    return binary


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# The in-process engine's settings, so both engines compute the same thing: flash attention
# on, a full sliding-window cache (Gemma 3), batch 512. No busy-polling: on a shared 2-core
# machine, threads that spin while they wait slowed generation down twenty-fold (measured).
COMMON_ARGS = (
    "-fa", "on", "--swa-full", "-b", "512", "-ub", "512", "--no-warmup", "--poll", "0",
)  # fmt: skip


@dataclass
class RunningServer:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def kill(self) -> None:
        """Kill the server at once (SIGKILL), as a crash would."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def log_tail(self, n: int = 30) -> str:
        lines = self.log.read_text(errors="replace").splitlines()
        return "\n".join(lines[-n:])


def _wait_healthy(
    server: RunningServer, timeout: float, key: str | None, cafile: Path | None = None
) -> None:
    deadline = time.monotonic() + timeout
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    context = ssl.create_default_context(cafile=str(cafile)) if cafile else None
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"the server exited:\n{server.log_tail()}")
        try:
            req = urllib.request.Request(server.url + "/health", headers=headers)
            with urllib.request.urlopen(req, timeout=2, context=context) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the server was not healthy within {timeout} s:\n{server.log_tail()}")


@contextlib.contextmanager
def llama_server(
    model: Path | None = None,
    *,
    models: Mapping[str, Path] | None = None,
    n_ctx: int = 1024,
    threads: int | None = None,
    extra: Sequence[str] = (),
    api_key: str | None = None,
    tls: tuple[Path, Path] | None = None,
    workdir: Path,
) -> Iterator[RunningServer]:
    """Run llama-server on 127.0.0.1 with one model, or in router mode with `models`
    (name -> GGUF; the names are what requests carry in `model`). Killed on exit.

    One thread per model by default: the tests share two cores with the in-process models.
    """
    binary = require_llama_server()
    port = free_port()
    threads = threads or 1
    args = [str(binary), "--host", "127.0.0.1", "--port", str(port)]
    args += ["-c", str(n_ctx), "-t", str(threads), *COMMON_ARGS, *extra]
    if model is not None:
        args += ["-m", str(model)]
    else:
        assert models, "give a model, or models for router mode"
        folder = workdir / f"models-{port}"
        folder.mkdir(parents=True)
        for name, path in models.items():
            (folder / f"{name}.gguf").symlink_to(Path(path).resolve())
        args += ["--models-dir", str(folder)]
    if api_key:
        args += ["--api-key", api_key]
    scheme = "http"
    if tls:
        args += ["--ssl-cert-file", str(tls[0]), "--ssl-key-file", str(tls[1])]
        scheme = "https"
    log = workdir / f"llama-server-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    server = RunningServer(f"{scheme}://127.0.0.1:{port}", proc, log)
    try:
        _wait_healthy(server, 120, api_key, tls[0] if tls else None)
        yield server
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def self_signed_cert(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, made with the openssl command."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


# --------------------------------------------------------------------------- vLLM

VLLM_HINT = "set it up with scripts/setup_vllm.sh (a 3.5 GB venv; about 3 minutes)"


def vllm_python() -> Path | None:
    """The python of the vLLM venv scripts/setup_vllm.sh made, if it is ready."""
    cache = ci_cache()
    venv = cache / "vllm-venv"
    return venv / "bin" / "python" if (venv / ".ready").is_file() else None


def hf_folder(name: str) -> Path:
    return ci_cache() / name


def require_vllm() -> Path:
    """The vLLM venv's python, or skip (fail in CI, where `.ci/run` sets it up) with how to
    set it up."""
    py = vllm_python()
    if py is None:
        _missing(f"vLLM is not set up: {VLLM_HINT}")
    return py


# One thread per server, bound to no core and sleeping while it waits: the tests share two
# cores with the in-process models and the other servers (as llama-server's COMMON_ARGS).
VLLM_ENV = {
    "VLLM_CPU_KVCACHE_SPACE": "1",
    "VLLM_CPU_OMP_THREADS_BIND": "nobind",
    "OMP_NUM_THREADS": "1",
    "OMP_WAIT_POLICY": "PASSIVE",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
}


@contextlib.contextmanager
def vllm_server(
    model_dir: Path, served_name: str, *, workdir: Path, max_model_len: int = 2048
) -> Iterator[RunningServer]:
    """Run vLLM's OpenAI server on 127.0.0.1, on the CPU, in float32 (bf16 moves far ranks).

    The prefix cache reuses whole blocks only; blocks of 32 tokens (the CPU's default is
    128) let the tests' short prompts show the reuse, and `--enable-prompt-tokens-details`
    makes the server report it (`usage.prompt_tokens_details.cached_tokens`)."""
    py = require_vllm()
    if not (model_dir / "config.json").is_file():
        _missing(f"{model_dir} is not converted: {VLLM_HINT}")
    port = free_port()
    args = [
        str(py), "-m", "vllm.entrypoints.openai.api_server", "--model", str(model_dir),
        "--served-model-name", served_name, "--host", "127.0.0.1", "--port", str(port),
        "--dtype", "float32", "--enforce-eager", "--max-model-len", str(max_model_len),
        "--max-logprobs", "20", "--enable-prompt-tokens-details", "--block-size", "32",
    ]  # fmt: skip
    log = workdir / f"vllm-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            args,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **VLLM_ENV},
        )
    server = RunningServer(f"http://127.0.0.1:{port}", proc, log)
    try:
        _wait_healthy(server, 600, None)
        yield server
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


_SHARED_VLLM: dict[Path, tuple[RunningServer, contextlib.ExitStack]] = {}


def shared_vllm_server(
    model_dir: Path, served_name: str, *, max_model_len: int = 2048
) -> RunningServer:
    """One vLLM server per model folder for the whole test session (each takes 25-50 s to
    start and holds about 3.3 GB); `stop_shared_vllm_servers` stops them."""
    key = model_dir.resolve()
    if key in _SHARED_VLLM and _SHARED_VLLM[key][0].process.poll() is None:
        return _SHARED_VLLM[key][0]
    stop_shared_vllm_servers([model_dir])
    stack = contextlib.ExitStack()
    workdir = Path(tempfile.mkdtemp(prefix="vllm-"))
    server = stack.enter_context(
        vllm_server(model_dir, served_name, workdir=workdir, max_model_len=max_model_len)
    )
    _SHARED_VLLM[key] = (server, stack)
    return server


def shared_vllm_servers(
    specs: Sequence[tuple[Path, str]], *, max_model_len: int = 2048
) -> list[RunningServer]:
    """`shared_vllm_server` for several (folder, name) at once, started side by side: most
    of a start is Python importing torch and vLLM, which overlaps well even on two cores."""
    with concurrent.futures.ThreadPoolExecutor(len(specs)) as pool:
        futures = [
            pool.submit(shared_vllm_server, folder, name, max_model_len=max_model_len)
            for folder, name in specs
        ]
        return [future.result() for future in futures]


def stop_shared_vllm_servers(folders: Sequence[Path] | None = None) -> None:
    """Stop the shared servers of these model folders (all of them when None)."""
    keys = list(_SHARED_VLLM) if folders is None else [Path(f).resolve() for f in folders]
    for key in keys:
        entry = _SHARED_VLLM.pop(key, None)
        if entry is not None:
            entry[1].close()


atexit.register(stop_shared_vllm_servers)


def vllm_folder_for_gguf(gguf: Path) -> Path:
    """The GGUF converted into a float32 Hugging Face folder (scripts/gguf_to_hf.py, in the
    vLLM venv), cached by the file's content: the tiny pair is byte-identical every run."""
    py = require_vllm()
    digest = hashlib.sha256(gguf.read_bytes()).hexdigest()[:16]
    out = hf_folder(f"hf-{gguf.stem}-{digest}")
    script = Path(__file__).resolve().parents[1] / "scripts" / "gguf_to_hf.py"
    done = subprocess.run(  # returns at once when this converter's version made `out`
        [str(py), str(script), str(gguf), str(out)],
        capture_output=True,
        text=True,
        env={**os.environ, **VLLM_ENV},
    )
    if done.returncode != 0:
        raise RuntimeError(f"converting {gguf} for vLLM failed:\n{done.stderr[-3000:]}")
    return out
