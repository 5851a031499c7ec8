"""Where GarNet firmware departs from the float Keras layer: emulator types widened one at a time.

    python benchmarks/garnet_precision.py [--sample jets.h5] [--n-per-class 250]
                                          [--sample-seed 4321] [--seed 3]

Trains the small GarNet tagger (``models.garnet``) on a jet sample with constituents (generated
here with the seeds of firmware_tests/test_garnet_csim.py unless ``--sample`` is given),
converts its GarNet layer (``hls.garnet_convert``) without compiling it, and prints a markdown
table of max/mean |emulator - Keras| on every jet for the types as converted and with one type
widened at a time (docs/garnet.md, "What is exact and what is not"). Rows other than the
first model firmware hls4ml does not generate (its distance type is fixed at ``ap_fixed<12,4>``);
they locate the error, they are not a configuration.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

#: The sample's jet definition is the GarNet run's (R = 0.8, every matched W/Z jet).
GARNET_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "jet_garnet.yml"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sample", type=Path, help="jet sample .h5 with constituents")
    p.add_argument("--n-per-class", type=int, default=250)
    p.add_argument("--sample-seed", type=int, default=4321, help="Pythia seed")
    p.add_argument("--seed", type=int, default=3, help="training seed")
    args = p.parse_args(argv)

    import hls4ml
    import numpy as np
    from nanotrig.hls._capture import captured_stdout
    from nanotrig.hls.fixed_type import FixedType
    from nanotrig.hls.garnet_convert import garnet_hls_config, garnet_submodel
    from nanotrig.hls.garnet_emulator import GarnetEmulator, distance_saturated_events
    from nanotrig.models.garnet import garnet_inputs, train_garnet_tagger
    from nanotrig.samples import generate_jets, load_jets

    from nanotrig.config import load_config

    with tempfile.TemporaryDirectory() as tmp:
        path = args.sample
        if path is None:
            path = Path(tmp) / "jets.h5"
            cfg = load_config(GARNET_CONFIG).samples.model_copy(  # its jet definition
                update={"n_per_class": args.n_per_class, "chunk_size": 125, "workers": 2}
            )
            generate_jets(cfg, seed=args.sample_seed, out_path=path, progress=False)
        sample = load_jets(path, parts=("constituents",))
        x, n = garnet_inputs(sample.constituents, sample.n_constituents)
        tagger = train_garnet_tagger(x, n, sample.labels, len(sample.class_names), seed=args.seed)
        sub = garnet_submodel(tagger.model)
        with captured_stdout():
            hls_model = hls4ml.converters.convert_from_keras_model(
                sub, hls_config=garnet_hls_config(sub), backend="Vitis", output_dir=tmp
            )
    base = GarnetEmulator.from_hls_layer(hls_model)
    node = hls_model.graph["garnet"]
    wide_weights = {}  # the float weights at 16 fractional bits instead of hls4ml's 10
    for name, (_, t) in base.weights.items():
        wt = FixedType(t.width + 6, t.integer, t.signed, t.rounding, t.overflow)
        wide_weights[name] = (wt.quantize(np.asarray(node.weights[name].data).ravel()), wt)
    ref = sub.predict([x, n], verbose=0).astype(np.float64)
    xd, nd = x.astype(np.float64), n.astype(np.float64)
    f = FixedType.parse
    rows = [
        ("as converted", {}),
        ("input 14 fractional bits", {"input_t": f("ap_fixed<20,6,AP_TRN,AP_SAT>")}),
        ("edge weight 16 bits", {"edge_weight_t": f("ap_ufixed<16,0>")}),
        ("weights 16 fractional bits", {"weights": wide_weights}),
        ("distance ap_fixed<18,4> (table 2^18)", {"distance_t": f("ap_fixed<18,4,AP_TRN,AP_SAT>")}),
        (
            "all of these wider, aggr and output too",
            {
                "input_t": f("ap_fixed<22,6,AP_TRN,AP_SAT>"),
                "edge_weight_t": f("ap_ufixed<16,0>"),
                "distance_t": f("ap_fixed<18,4,AP_TRN,AP_SAT>"),
                "edge_weight_aggr_t": f("ap_ufixed<22,6>"),
                "aggr_t": f("ap_fixed<36,12,AP_TRN,AP_SAT>"),
                "output_t": f("ap_fixed<30,8,AP_TRN,AP_SAT>"),
                "weights": wide_weights,
            },
        ),
    ]
    sat = distance_saturated_events(sub.get_layer("garnet"), x, n)
    out = [
        f"GarNet emulator vs float Keras, {len(x)} jets, largest |output| {np.abs(ref).max():.3f}; "
        f"{sat.sum()} jets with a saturated distance sum (excluded from the last column)",
        "",
        "| emulator types | max abs diff | mean abs diff | max abs diff, no saturation |",
        "| --- | --- | --- | --- |",
    ]
    for label, change in rows:
        diff = np.abs(dataclasses.replace(base, **change).predict(xd, nd) - ref)
        out.append(f"| {label} | {diff.max():.4f} | {diff.mean():.5f} | {diff[~sat].max():.4f} |")
    sys.stdout.write("\n".join(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
