"""Write a copy of a GGUF model with its transformer-block weights in other llama.cpp quantisation types.

    pip install gguf    # llama.cpp's own reader/writer; not a dependency of the assistant
    python bench/requantize_gguf.py IN.gguf OUT.gguf --map Q4_K=Q8_0 Q6_K=Q8_0
    ASSISTANT_LLM_MODEL=OUT.gguf python bench/llm_speed.py --runs 3 [--repack on]

Why: prompt processing is most of an LLM-mode answer's time on a CPU, and llama.cpp's speed per token depends on
the weights' type (each type has its own matrix kernels: K-quants, the llamafile kernels for Q8_0 / Q4_0, the
repacked and AMX layouts). This tool makes the other types from the packaged file so that `bench/llm_speed.py` can
compare them on the same model; docs/BENCHMARKS.md (Speed) has the result.

What it does: every tensor named `blk.*` whose type is a key of `--map` is dequantised to float32 and quantised
again to the mapped type; the token embedding and the output head (a row lookup, and one product per generated
token) and every other tensor are copied unchanged, as is the metadata. Requantising from a 4-bit source cannot
restore precision: a Q8_0 copy holds the Q4_K values almost exactly (a speed comparison, not a quality gain), a
Q4_0 copy loses some.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def parse_map(pairs: list[str], types: type) -> dict[object, object]:
    """`["Q4_K=Q8_0", ...]` -> {GGMLQuantizationType.Q4_K: GGMLQuantizationType.Q8_0, ...}; a clear error otherwise."""
    mapping = {}
    for pair in pairs:
        source, sep, target = pair.partition("=")
        if not sep or source not in types.__members__ or target not in types.__members__:
            raise SystemExit(f"--map wants SOURCE=TARGET llama.cpp type names (e.g. Q4_K=Q8_0), got {pair!r}")
        mapping[types[source]] = types[target]
    return mapping


def main(argv: list[str] | None = None) -> int:
    """Write OUT from IN; IN is never modified, and OUT is written under a temporary name, then renamed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("target", type=Path)
    parser.add_argument("--map", nargs="+", required=True, help="SOURCE=TARGET type pairs, e.g. Q4_K=Q8_0")
    args = parser.parse_args(argv)
    try:
        import gguf
        import numpy as np
        from gguf import quants
        from gguf.constants import GGMLQuantizationType
    except ImportError:
        print("this tool needs llama.cpp's gguf package: pip install gguf", file=sys.stderr)
        return 2
    if not args.source.is_file():
        print(f"no such GGUF file: {args.source}", file=sys.stderr)
        return 2
    mapping = parse_map(args.map, GGMLQuantizationType)

    reader = gguf.GGUFReader(args.source)
    partial = args.target.with_name(args.target.name + ".partial")
    writer = gguf.GGUFWriter(partial, arch=reader.fields["general.architecture"].contents(),
                             endianess=reader.endianess)
    alignment = reader.fields.get("general.alignment")
    if alignment is not None:
        writer.data_alignment = alignment.contents()
    # The metadata as it is (the writer adds the architecture and the GGUF header fields itself).
    for field in reader.fields.values():
        if field.name == "general.architecture" or field.name.startswith("GGUF."):
            continue
        value_type = field.types[0]
        sub_type = field.types[-1] if value_type == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), value_type, sub_type=sub_type)
    # The tensors: block weights of a mapped type requantised, everything else copied.
    started, changed = time.perf_counter(), 0
    for tensor in reader.tensors:
        kind = GGMLQuantizationType(tensor.tensor_type)
        if tensor.name.startswith("blk.") and kind in mapping:
            values = quants.dequantize(tensor.data, kind).astype(np.float32)
            writer.add_tensor(tensor.name, quants.quantize(values, mapping[kind]), raw_dtype=mapping[kind])
            changed += 1
        else:
            writer.add_tensor(tensor.name, tensor.data, raw_shape=tensor.data.shape, raw_dtype=kind)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    partial.replace(args.target)
    print(f"{args.target}: {changed} tensors requantised in {time.perf_counter() - started:.0f} s, "
          f"{args.target.stat().st_size / 1e6:,.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
