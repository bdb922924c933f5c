"""Rebuild xllamacpp (llama.cpp) for this machine's CPU when the prebuilt wheel leaves speed unused.

Why: the prebuilt xllamacpp CPU wheels are compiled for AVX2 so they run anywhere. On a CPU with AVX-512 or
AVX-512 VNNI/BF16, llama.cpp compiled for those instructions processes prompts much faster, and
prompt processing is most of an answer's time here (measured on the 2-core Xeon of docs/BENCHMARKS.md:
66 -> 140 prompt tokens/s with `bench/llm_speed.py`, SQuAD-500 LLM answer median 4.21 s -> 2.80 s).

What it does (run by `make setup` after the pinned install; safe to run again at any time):
1. compares the host's CPU flags (/proc/cpuinfo) with the features the installed xllamacpp was built with
   (`xllamacpp.get_system_info()`); nothing to gain -> nothing to do;
2. otherwise builds the same pinned xllamacpp version from its PyPI source distribution for the host's
   features (about 6 minutes on 2 cores) into a wheel cached under
   `~/.cache/cited-assistant/wheels/<version>-<cpu>/` (keyed by the CPU flags, so a wheel is never
   reused on a CPU it was not built for), installs it, and checks that it imports and reports the new
   features;
3. any failure (no compiler, no cmake, a build error) leaves the prebuilt wheel installed and says why:
   the native build is an optimisation, never a requirement.

Opt out with `NATIVE_LLM=0 make setup` (or `python tools/native_llamacpp.py --skip`).

Example:
    .venv/bin/python tools/native_llamacpp.py            # build if it helps, reuse a cached wheel if any
    .venv/bin/python tools/native_llamacpp.py --check    # only report what would happen
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

PACKAGE = "xllamacpp"

# Host CPU flag (as /proc/cpuinfo spells it) -> (the feature name llama.cpp's system info prints, the ggml
# CMake option that compiles its kernels). Only features that change the CPU kernels are listed.
CPU_FEATURES = {
    "avx": ("AVX", "GGML_AVX"),
    "avx2": ("AVX2", "GGML_AVX2"),
    "fma": ("FMA", "GGML_FMA"),
    "f16c": ("F16C", "GGML_F16C"),
    "bmi2": ("BMI2", "GGML_BMI2"),
    "avx_vnni": ("AVX_VNNI", "GGML_AVX_VNNI"),
    "avx512f": ("AVX512", "GGML_AVX512"),
    "avx512vbmi": ("AVX512_VBMI", "GGML_AVX512_VBMI"),
    "avx512_vnni": ("AVX512_VNNI", "GGML_AVX512_VNNI"),
    "avx512_bf16": ("AVX512_BF16", "GGML_AVX512_BF16"),
}
# AMX is left out on purpose: llama.cpp's AMX matmul crashed (SIGSEGV in ggml_backend_amx_mul_mat at
# warm-up) on the Xeon this was measured on, and `-march=native` would turn it on. Features are therefore
# named one by one (GGML_NATIVE=OFF) instead of compiling for "native".

# The sdist's llama.cpp build otherwise fetches BoringSSL and llguidance from the internet at configure
# time (not reachable here); the assistant needs neither (no HTTPS downloads, no grammar engine).
OFFLINE_CMAKE_ARGS = "-DLLAMA_BUILD_BORINGSSL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_LLGUIDANCE=OFF -DLLAMA_CURL=OFF"


def host_cpu_flags(cpuinfo: str) -> set[str]:
    """The CPU flags listed in a /proc/cpuinfo text (the first `flags` line; all cores share it)."""
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def read_host_flags() -> set[str]:
    """This machine's CPU flags (empty where /proc/cpuinfo does not exist)."""
    try:
        return host_cpu_flags(Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return set()


def built_features(system_info: str) -> set[str]:
    """Feature names llama.cpp's `get_system_info()` reports as enabled (`AVX2 = 1 | ...`)."""
    enabled = set()
    for part in system_info.replace("CPU :", "|").split("|"):
        name, _, value = part.partition("=")
        if value.strip() == "1":
            enabled.add(name.strip())
    return enabled


def missing_features(host_flags: set[str], enabled: set[str]) -> list[str]:
    """Kernel features the host CPU has that the installed build does not use, in a stable order."""
    return [name for flag, (name, _) in CPU_FEATURES.items() if flag in host_flags and name not in enabled]


def cmake_feature_args(host_flags: set[str]) -> list[str]:
    """CMake options compiling llama.cpp for exactly the host's listed CPU features (nothing native)."""
    return ["-DGGML_NATIVE=OFF"] + [f"-D{option}={'ON' if flag in host_flags else 'OFF'}"
                                    for flag, (_, option) in CPU_FEATURES.items()]


def cpu_key(host_flags: set[str]) -> str:
    """A short stable id of the CPU features a native build depends on (names the wheel cache folder)."""
    relevant = sorted(host_flags & set(CPU_FEATURES))
    return hashlib.sha256(" ".join(relevant).encode()).hexdigest()[:12]


def installed_system_info(python: str) -> str | None:
    """`xllamacpp.get_system_info()` from a fresh interpreter (None when it does not import)."""
    result = subprocess.run([python, "-c", "import xllamacpp; print(xllamacpp.get_system_info())"],
                            capture_output=True, text=True, timeout=120)
    return result.stdout.strip() if result.returncode == 0 else None


def _pip(python: str, *args: str, env: dict[str, str] | None = None) -> None:
    subprocess.run([python, "-m", "pip", *args], check=True, env=env)


def build_wheel(python: str, version: str, host_flags: set[str], dest: Path) -> Path:
    """Compile the pinned xllamacpp sdist for this CPU into `dest` (written atomically) and return the wheel."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(dest, ignore_errors=True)  # a folder without a wheel in it is an earlier failure
    with tempfile.TemporaryDirectory(prefix="wheel-", dir=dest.parent, ignore_cleanup_errors=True) as tmp:
        env = dict(os.environ)
        features = " ".join(cmake_feature_args(host_flags))
        env["CMAKE_ARGS"] = f"{OFFLINE_CMAKE_ARGS} {features} {env.get('CMAKE_ARGS', '')}".strip()
        _pip(python, "wheel", "--no-deps", "--no-binary", PACKAGE, "--no-cache-dir", "-w", tmp,
             f"{PACKAGE}=={version}", env=env)
        wheels = list(Path(tmp).glob(f"{PACKAGE}-*.whl"))
        if len(wheels) != 1:
            raise RuntimeError(f"expected one wheel, pip produced {[w.name for w in wheels]}")
        os.replace(tmp, dest)  # the cache folder appears only when complete
    return next(dest.glob(f"{PACKAGE}-*.whl"))


def main(argv: list[str] | None = None) -> int:
    """Build or reuse a native wheel when it helps; always exit 0 unless the prebuilt one was lost."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only report what would be done")
    parser.add_argument("--skip", action="store_true", help="do nothing (same as NATIVE_LLM=0)")
    parser.add_argument("--cache-dir", type=Path,
                        default=Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
                        / "cited-assistant" / "wheels")
    args = parser.parse_args(argv)
    say = lambda message: print(f"native llama.cpp: {message}", flush=True)  # noqa: E731

    if args.skip or os.environ.get("NATIVE_LLM", "1") == "0":
        say("skipped (NATIVE_LLM=0); the prebuilt xllamacpp wheel stays")
        return 0
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64"):
        say(f"nothing to do on {platform.system()} {platform.machine()} (only x86-64 Linux is rebuilt)")
        return 0
    python = sys.executable
    version = metadata.version(PACKAGE)
    info = installed_system_info(python)
    if info is None:
        say(f"{PACKAGE} does not import; run `make setup` again")
        return 1
    host = read_host_flags()
    missing = missing_features(host, built_features(info))
    if not missing:
        say(f"the installed {PACKAGE} {version} already uses every relevant CPU feature; nothing to do")
        return 0
    wheel_dir = args.cache_dir / f"{version}-{cpu_key(host)}"
    cached = sorted(wheel_dir.glob(f"{PACKAGE}-*.whl")) if wheel_dir.is_dir() else []
    tools = [tool for tool in ("cc", "c++", "cmake") if shutil.which(tool) is None]
    if args.check:
        plan = ("install the cached wheel " + str(cached[0]) if cached else
                "cannot build: missing " + ", ".join(tools) if tools else "build from source (~6 min)")
        say(f"CPU features unused by {PACKAGE} {version}: {', '.join(missing)}; would {plan}")
        return 0
    if not cached and tools:
        say(f"CPU has {', '.join(missing)} but {', '.join(tools)} missing: keeping the prebuilt wheel "
            "(install a C/C++ compiler and cmake, then run `make setup` again, for faster answers)")
        return 0
    try:
        if cached:
            wheel = cached[0]
            say(f"installing cached native wheel {wheel}")
        else:
            say(f"CPU has {', '.join(missing)}, unused by the prebuilt {PACKAGE} {version}: building it for "
                "this CPU (about 6 minutes on 2 cores, once; NATIVE_LLM=0 skips)")
            wheel = build_wheel(python, version, host, wheel_dir)
        _pip(python, "install", "--no-deps", "--force-reinstall", str(wheel))
        native = installed_system_info(python)
        if native is None or missing_features(host, built_features(native)) == missing:
            raise RuntimeError(f"the native build does not import or use the new features: {native!r}")
    except (subprocess.CalledProcessError, RuntimeError, OSError) as exc:
        say(f"native build failed ({exc}); reinstalling the prebuilt wheel")
        shutil.rmtree(wheel_dir, ignore_errors=True)
        _pip(python, "install", "--no-deps", "--force-reinstall", "--only-binary", PACKAGE,
             f"{PACKAGE}=={version}")
        return 0
    say(f"installed; now using {', '.join(missing)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
