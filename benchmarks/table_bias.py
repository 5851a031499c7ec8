"""Bias of a run's softmax tables and the decisions it moves: truncating vs centred index.

    python benchmarks/table_bias.py RUN_DIR [--out DIR]

Reads a jet tagger's run directory (``hls/hls_model.fml``, ``hls/keras_model.h5``,
``hls/verify.json`` with its decision check, the test and stress inputs) and feeds QKeras'
logits (bit-exact with the firmware's) to the table emulator of hls/tables.py with the run's
tables, the exp sum cast (AP_RND) either to an 18-bit type whose low bits the inverse-table
index drops (*truncating*, the ladder before the centred rungs) or to exactly the index bits
(*centred*). Prints per setting and event set: the table error (max |emulator - QKeras' float
softmax|), the mean signed difference, the shares above and below, and the table-induced
decision differences at the run's working points (firmware units), gained and lost in
firmware. Writes table_bias.json to --out (default RUN_DIR). Figures are printed, not asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    import keras
    import numpy as np
    from hls4ml.utils.serialization import deserialize_model
    from nanotrig.hls.fixed_type import FixedType
    from nanotrig.hls.model_io import load_qkeras_model
    from nanotrig.hls.tables import emulate, table_spec

    run = args.run_dir
    with tempfile.TemporaryDirectory() as tmp:
        hls_model = deserialize_model(run / "hls" / "hls_model.fml", output_dir=tmp)
    spec = table_spec(next(la for la in hls_model.get_layers() if la.class_name == "Softmax"))
    model = load_qkeras_model(run / "hls" / "keras_model.h5")
    probe = keras.Model(model.inputs, [model.layers[-2].output, model.output])
    points = json.loads((run / "hls" / "verify.json").read_text())["decisions"]["points"]
    cols = np.array([p["column"] for p in points])
    thr = np.array([p["threshold"] for p in points])
    bits = spec.inv_table_size.bit_length() - 1
    t = spec.inv_inp_t
    settings = {
        "truncating index": spec.with_(inv_inp_t=FixedType(18, t.integer, t.signed, "RND", "SAT")),
        "centred": spec.with_(inv_inp_t=FixedType(bits, t.integer, t.signed, "RND", "SAT")),
    }
    converted = next((k for k, v in settings.items() if v == spec), "neither")
    print(f"{run}: converted with {converted} ({spec.inv_table_size} inverse-table entries)")
    events = {
        "test": np.load(run / "qmodel" / "test_inputs.npy"),
        "stress": np.load(run / "data" / "stress_inputs.npy", mmap_mode="r"),
    }
    rows = []
    for label, x in events.items():
        logits, probs = [], []
        for start in range(0, len(x), 100_000):
            lo, pr = probe.predict(np.asarray(x[start : start + 100_000]), batch_size=16_384,
                                   verbose=0)  # fmt: skip
            logits.append(lo.astype(np.float64))
            probs.append(pr.astype(np.float64))
        lo, pr = np.concatenate(logits), np.concatenate(probs)
        q = pr[:, cols] >= thr
        for name, s in settings.items():
            e = emulate(s, lo)
            d = e - pr
            fw = e[:, cols] >= thr
            rows.append({
                "setting": name, "events": label, "n": len(x),
                "inv_inp_t": f"ap_fixed<{s.inv_inp_t.width},{s.inv_inp_t.integer},"
                             f"AP_{s.inv_inp_t.rounding},AP_{s.inv_inp_t.overflow}>",
                "table_error": float(np.abs(d).max()), "mean_diff": float(d.mean()),
                "share_above": float(np.mean(d > 0)), "share_below": float(np.mean(d < 0)),
                "table_induced": int(np.sum(q != fw)), "gained": int(np.sum(fw & ~q)),
                "lost": int(np.sum(q & ~fw)),
            })  # fmt: skip
    head = "| setting | events | inv_inp_t | table error | mean diff | above / below | "
    head += "table-induced (gained / lost) |"
    print(head)
    print("|---" * 7 + "|")
    for r in rows:
        print(f"| {r['setting']} | {r['events']} ({r['n']:,}) | {r['inv_inp_t']} | "
              f"{r['table_error']:.4f} | {r['mean_diff']:+.2e} | "
              f"{r['share_above']:.2f} / {r['share_below']:.2f} | "
              f"{r['table_induced']:,} ({r['gained']:,} / {r['lost']:,}) |")  # fmt: skip
    out = (args.out or run) / "table_bias.json"
    record = {"run_dir": str(run), "converted_with": converted, "rows": rows}
    out.write_text(json.dumps(record, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
