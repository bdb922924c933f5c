"""The optional llama.cpp rebuild for the host CPU: when it builds, what it builds, and that it never breaks setup."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.config import load_settings

PREBUILT_INFO = ("CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | BMI2 = 1 | "
                 "LLAMAFILE = 1 | OPENMP = 1 | REPACK = 1 | ")
NATIVE_INFO = PREBUILT_INFO.replace("AVX2 = 1 |", "AVX2 = 1 | AVX512 = 1 | AVX512_VNNI = 1 |")
XEON_FLAGS = {"sse3", "avx", "avx2", "fma", "f16c", "bmi2", "avx512f", "avx512_vnni", "amx_int8", "amx_tile"}


def load_tool():
    """tools/ is not a package: load the script as a module."""
    path = Path(__file__).resolve().parent.parent / "tools" / "native_llamacpp.py"
    spec = importlib.util.spec_from_file_location("native_llamacpp", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tool = load_tool()


def test_reads_cpu_flags_and_build_features():
    cpuinfo = "processor\t: 0\nflags\t\t: fpu avx2 avx512f amx_int8\nbugs\t\t: none\n"
    assert tool.host_cpu_flags(cpuinfo) == {"fpu", "avx2", "avx512f", "amx_int8"}
    assert tool.built_features(PREBUILT_INFO) >= {"AVX2", "FMA", "REPACK"}
    assert "AVX512" not in tool.built_features(PREBUILT_INFO)


def test_rebuild_only_for_features_the_build_lacks():
    assert tool.missing_features(XEON_FLAGS, tool.built_features(PREBUILT_INFO)) == ["AVX512", "AVX512_VNNI"]
    assert tool.missing_features(XEON_FLAGS, tool.built_features(NATIVE_INFO)) == []
    assert tool.missing_features({"avx", "avx2", "fma"}, tool.built_features(PREBUILT_INFO)) == []


def test_cmake_names_each_feature_and_never_amx_or_native():
    args = tool.cmake_feature_args(XEON_FLAGS)
    assert "-DGGML_NATIVE=OFF" in args
    assert "-DGGML_AVX512=ON" in args and "-DGGML_AVX512_VNNI=ON" in args
    assert "-DGGML_AVX512_BF16=OFF" in args  # not in XEON_FLAGS
    assert not any("AMX" in arg for arg in args)


def test_wheel_cache_key_depends_on_cpu_features_only():
    assert tool.cpu_key(XEON_FLAGS) == tool.cpu_key(XEON_FLAGS | {"hypervisor", "fpu"})
    assert tool.cpu_key(XEON_FLAGS) != tool.cpu_key(XEON_FLAGS - {"avx512_vnni"})


@pytest.fixture()
def prebuilt_on_xeon(monkeypatch, tmp_path):
    """The tool seeing a prebuilt AVX2 wheel on an AVX-512 CPU; every pip call is recorded, none is run."""
    calls: list[tuple[str, ...]] = []
    monkeypatch.setattr(tool, "installed_system_info", lambda python: PREBUILT_INFO)
    monkeypatch.setattr(tool, "read_host_flags", lambda: set(XEON_FLAGS))
    monkeypatch.setattr(tool, "_pip", lambda python, *args, env=None: calls.append(args))
    monkeypatch.setattr(tool.platform, "system", lambda: "Linux")
    monkeypatch.setattr(tool.platform, "machine", lambda: "x86_64")
    monkeypatch.delenv("NATIVE_LLM", raising=False)
    return calls, ["--cache-dir", str(tmp_path / "wheels")]


def test_opt_out_does_nothing(prebuilt_on_xeon, monkeypatch, capsys):
    calls, cache = prebuilt_on_xeon
    monkeypatch.setenv("NATIVE_LLM", "0")
    assert tool.main(cache) == 0
    assert calls == [] and "skipped" in capsys.readouterr().out


def test_without_a_compiler_setup_goes_on_with_the_prebuilt_wheel(prebuilt_on_xeon, monkeypatch, capsys):
    calls, cache = prebuilt_on_xeon
    monkeypatch.setattr(tool.shutil, "which", lambda name: None)
    assert tool.main(cache) == 0
    out = capsys.readouterr().out
    assert calls == [] and "keeping the prebuilt wheel" in out and "cmake" in out


def test_a_failed_build_reinstalls_the_prebuilt_wheel(prebuilt_on_xeon, monkeypatch, capsys):
    calls, cache = prebuilt_on_xeon
    monkeypatch.setattr(tool.shutil, "which", lambda name: f"/usr/bin/{name}")

    def failing_build(*args):
        raise subprocess.CalledProcessError(1, ["pip", "wheel"])

    monkeypatch.setattr(tool, "build_wheel", failing_build)
    assert tool.main(cache) == 0
    assert "native build failed" in capsys.readouterr().out
    assert calls and "--only-binary" in calls[-1] and calls[-1][-1].startswith("xllamacpp==")


def test_a_cached_wheel_is_installed_without_building(prebuilt_on_xeon, monkeypatch, tmp_path):
    calls, cache = prebuilt_on_xeon
    version = tool.metadata.version("xllamacpp")
    folder = tmp_path / "wheels" / f"{version}-{tool.cpu_key(XEON_FLAGS)}"
    folder.mkdir(parents=True)
    wheel = folder / f"xllamacpp-{version}-cp311-abi3-linux_x86_64.whl"
    wheel.write_bytes(b"wheel")
    infos = iter([PREBUILT_INFO, NATIVE_INFO])
    monkeypatch.setattr(tool, "installed_system_info", lambda python: next(infos))
    monkeypatch.setattr(tool, "build_wheel", lambda *a: pytest.fail("must not build when a wheel is cached"))
    assert tool.main(cache) == 0
    assert calls == [("install", "--no-deps", "--force-reinstall", str(wheel))]


def test_check_reports_the_plan_of_this_machine():
    result = subprocess.run([sys.executable, str(Path(tool.__file__)), "--check"], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("native llama.cpp:")


def test_weight_repack_is_off_unless_turned_on():
    assert load_settings(overrides={}, environ={}).llm_weight_repack is False
    assert load_settings(environ={"ASSISTANT_LLM_WEIGHT_REPACK": "on"}).llm_weight_repack is True
    assert load_settings(environ={"ASSISTANT_LLM_WEIGHT_REPACK": "off"}).llm_weight_repack is False
