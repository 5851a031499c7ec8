"""W/Z jets with their truth decay (issue 19 study): generate, then score reweighted variants.

    python benchmarks/jet_boson_truth.py generate --production pair --out /tmp/wz_pair.npz
        [--config configs/jet_mlp_r08.yml] [--n-per-class 1600] [--seed 42]
    python benchmarks/jet_boson_truth.py score --sample runs/learning_curve/jets.h5
        --truth /tmp/wz_pair.npz [--replace /tmp/wz_scalar.npz] [--split-seeds 1 2 3]
        [--variants "as generated" "isotropic decay"]

``generate`` runs the W and Z chunks exactly as ``nanotrig generate`` does (same seeds, chunk size,
selection and features: the jets equal the sample's W and Z jets, which ``score`` checks) and
records, per jet, the matched boson's truth: its mass, the decay quarks' flavour and the
helicity angle |cos theta*| (the quark's direction in the boson rest frame against the boson's
flight direction), and for every generated boson the |cos theta*| before any selection. It keeps
every matched jet (its variants select those holding both quarks themselves), so its config must
have ``samples.contained: []`` (the default config, configs/jet_mlp_r08.yml, has).

``score`` takes the g, q and t jets of a sample (``--sample``, made with the same seed), the W and
Z jets with truth (``--truth``; ``--replace``: W and Z from another production instead), and
scores gradient-boosted trees on 70 / 30 splits (one per split seed) for variants that reweight
or select the W/Z jets: generated as is, reweighted to an isotropic or a longitudinal decay
(weights = target / generated |cos theta*| density, before selection), Z without b quarks, and
jets whose boson mass lies within 15 widths of the pole. Accuracy and AUCs are weighted alike in
training and test. Prints a markdown table (figures, not a pass/fail test).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

_BOSON = {"W": 24, "Z": 23}
_WIDTH = {24: 2.085, 23: 2.4952}
_POLE = {24: 80.385, 23: 91.1876}
_NEUTRINOS = (12, 14, 16)
# per-jet truth columns; dr: jet to boson; dr_quarks: jet axis to the farther decay quark
_TRUTH_COLS = {"mass": 0, "cos": 1, "flavour": 2, "mass_last": 3, "dr": 4, "dr_quarks": 5}


def _event_truth(ev, bid: int) -> list[tuple]:
    """Per hard-process boson (first copy, |status| 22/23) of one event: (eta, phi, mass of the
    first copy, |cos theta*|, max |id| of the decay quarks, mass of the last copy, the decay
    quarks' (rapidity, phi) pairs)."""
    ids = np.asarray(ev.id)
    st = np.abs(np.asarray(ev.status))
    d1, d2 = np.asarray(ev.daughter1), np.asarray(ev.daughter2)
    p = np.stack([np.asarray(ev.p[k]) for k in ("px", "py", "pz", "e")], axis=1)
    out = []
    for i in np.flatnonzero((np.abs(ids) == bid) & ((st == 22) | (st == 23))):
        k = i
        while d1[k] > 0:  # recoil copies and photon emissions (W -> W gamma)
            same = [j for j in range(d1[k], max(d2[k], d1[k]) + 1) if abs(ids[j]) == bid]
            if not same:
                break
            k = same[0]
        dau = [j for j in range(d1[k], max(d2[k], d1[k]) + 1) if 1 <= abs(ids[j]) <= 6]
        b = p[k]
        quark = next((j for j in dau if ids[j] > 0), dau[0] if dau else None)
        cos = np.nan
        if quark is not None:
            cos = abs(_cos_helicity(b, p[quark]))
        px, py, pz, e = p[i]
        pt = np.hypot(px, py)
        mass1 = np.sqrt(max(e * e - px * px - py * py - pz * pz, 0.0))
        massk = np.sqrt(max(b[3] ** 2 - b[0] ** 2 - b[1] ** 2 - b[2] ** 2, 0.0))
        flav = max((abs(ids[j]) for j in dau), default=0)
        quarks = [(_rapidity(p[j]), float(np.arctan2(p[j][1], p[j][0]))) for j in dau]
        out.append((np.arcsinh(pz / pt), np.arctan2(py, px), mass1, cos, flav, massk, quarks))
    return out


def _rapidity(q: np.ndarray) -> float:
    """Rapidity of a four-momentum (px, py, pz, e)."""
    return float(0.5 * np.log((q[3] + q[2]) / max(q[3] - q[2], 1e-12)))


def _cos_helicity(b: np.ndarray, q: np.ndarray) -> float:
    """cos of the angle between ``q`` boosted into the rest frame of ``b`` and ``b``'s direction."""
    m = np.sqrt(max(b[3] ** 2 - b[:3] @ b[:3], 1e-12))
    beta = b[:3] / b[3]
    gamma = b[3] / m
    bp = beta @ q[:3]
    b2 = beta @ beta
    q3 = q[:3] + ((gamma - 1.0) * bp / b2 - gamma * q[3]) * beta
    return float(q3 @ b[:3] / (np.linalg.norm(q3) * np.linalg.norm(b[:3])))


def _chunk(cfg, cls: str, seed: int, n_events: int) -> dict[str, np.ndarray]:
    """One chunk as ``samples.generate.run_chunk`` makes it, with the matched boson's truth."""
    import awkward as ak
    import pythia8mc
    from nanotrig.samples.jet_features import jet_features, leading_jets
    from nanotrig.samples.pythia_jets import pythia_settings

    bid = _BOSON[cls]
    pythia = pythia8mc.Pythia("", False)
    for line in pythia_settings(cls, cfg, seed):
        assert pythia.readString(line), line
    assert pythia.init()
    events = pythia.nextBatch(n_events, errorMode="skip")
    prt = events.prt
    aid = abs(prt.id)
    visible = (prt.status > 0) & (aid != _NEUTRINOS[0]) & (aid != _NEUTRINOS[1])
    visible = visible & (aid != _NEUTRINOS[2])

    def four(x):
        return ak.zip({"px": x.p.px, "py": x.p.py, "pz": x.p.pz, "E": x.p.e})

    ast = abs(prt.status)
    hard = four(prt[(aid == bid) & ((ast == 22) | (ast == 23))])
    sel = leading_jets(four(prt[visible]), hard, cfg.jet_r, cfg.jet_pt_range_gev, cfg.match_dr)
    feats = jet_features(sel["constituents"], cfg.jet_r, cfg.feature_backend)
    finite = np.isfinite(feats).all(axis=1)
    rows = np.flatnonzero(sel["mask"])[finite]
    eta, phi = sel["eta"][finite], sel["phi"][finite]
    truth, gen_cos = [], []
    for n in range(len(events)):
        bosons = _event_truth(prt[n], bid)
        gen_cos += [b[3] for b in bosons]
        truth.append(bosons)

    def _dr(e: float, f: float, je: float, jp: float) -> float:
        return float(np.hypot(e - je, (f - jp + np.pi) % (2 * np.pi) - np.pi))

    jt = np.full((len(rows), len(_TRUTH_COLS)), np.nan)
    for r, (n, je, jp) in enumerate(zip(rows, eta, phi, strict=True)):
        dr = [_dr(b[0], b[1], je, jp) for b in truth[n]]
        b = truth[n][int(np.argmin(dr))]
        dq = max((_dr(qe, qf, je, jp) for qe, qf in b[6]), default=np.nan)
        jt[r] = (b[2], b[3], b[4], b[5], min(dr), dq)
    return {"features": feats[finite].astype(np.float32), "truth": jt, "gen_cos": gen_cos}


def generate(args) -> int:
    """W and Z jets with truth, chunk by chunk (one process), into ``args.out`` (npz)."""
    from nanotrig.samples.generate import chunk_seed

    from nanotrig.config import load_config

    cfg = load_config(args.config)
    seed = args.seed if args.seed is not None else cfg.seed
    update = {"boson_production": args.production}
    if args.no_match:
        update["match_dr"] = None
    scfg = cfg.samples.model_copy(update=update)
    if scfg.contained:
        raise SystemExit(
            f"{args.config}: samples.contained is {list(scfg.contained)}, but this benchmark "
            "records every matched W/Z jet: use a config with contained: [] "
            "(configs/jet_mlp_r08.yml, or jet_r: 0.4 with contained: [])"
        )
    out: dict[str, np.ndarray] = {}
    for cls in ("W", "Z"):
        t0 = time.perf_counter()
        feats, truth, gen_cos, i, n_ev = [], [], [], 0, 0
        while sum(len(f) for f in feats) < args.n_per_class:
            c = _chunk(scfg, cls, chunk_seed(seed, cls, i), scfg.chunk_size)
            feats.append(c["features"])
            truth.append(c["truth"])
            gen_cos += c["gen_cos"]
            i += 1
            n_ev += scfg.chunk_size
        out[f"{cls}_features"] = np.concatenate(feats)[: args.n_per_class]
        out[f"{cls}_truth"] = np.concatenate(truth)[: args.n_per_class]
        out[f"{cls}_gen_cos"] = np.asarray(gen_cos)
        sys.stderr.write(
            f"{cls}: {args.n_per_class} jets from {n_ev} events ({i} chunks) in "
            f"{time.perf_counter() - t0:.0f} s\n"
        )
    np.savez(
        args.out, production=args.production, seed=seed, match=not args.no_match,
        jet_r=scfg.jet_r, **out,
    )  # fmt: skip
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("generate")
    g.add_argument("--production", choices=("pair", "scalar"), default="pair")
    g.add_argument("--out", required=True)
    g.add_argument("--config", default="configs/jet_mlp_r08.yml")
    g.add_argument("--n-per-class", type=int, default=1600)
    g.add_argument("--seed", type=int, default=None)
    g.add_argument("--no-match", action="store_true", help="keep W/Z jets however far from a boson")
    s = sub.add_parser("score")
    s.add_argument("--sample", required=True)
    s.add_argument("--truth", required=True)
    s.add_argument("--replace", default=None)
    s.add_argument("--split-seeds", type=int, nargs="+", default=[1, 2, 3])
    s.add_argument("--variants", nargs="+", default=None, help="only these rows (default: all)")
    s.add_argument("--config", default="configs/jet_mlp_r08.yml")
    s.add_argument(
        "--learning-curve",
        type=int,
        nargs="*",
        default=[],
        metavar="N",
        help="also the Keras learning curve (benchmarks/jet_learning_curve.py) at N",
    )
    args = ap.parse_args(argv)
    return generate(args) if args.cmd == "generate" else score(args)


def _variants(
    truth: dict[str, np.ndarray], gen_cos: dict[str, np.ndarray], jet_r: float | None = None
) -> dict:
    """W/Z jet weights per variant (class mean 1): name -> {cls: weights}. ``jet_r`` (the
    truth file's radius; None for files written before it was recorded) adds the containment
    variants: both decay quarks within ``jet_r`` of the jet axis."""
    edges = np.linspace(0.0, 1.0, 11)
    out: dict[str, dict[str, np.ndarray]] = {}
    targets = {
        "isotropic": lambda c: np.ones_like(c),
        "longitudinal": lambda c: 1.5 * (1.0 - c * c),
    }
    for cls, t in truth.items():
        c = t[:, _TRUTH_COLS["cos"]]
        dens, _ = np.histogram(gen_cos[cls], edges, density=True)
        gen = dens[np.clip(np.digitize(c, edges) - 1, 0, len(dens) - 1)]
        bid = _BOSON[cls]
        onshell = np.abs(t[:, _TRUTH_COLS["mass"]] - _POLE[bid]) < 15 * _WIDTH[bid]
        nob = t[:, _TRUTH_COLS["flavour"]] != 5
        w = {
            "as generated": np.ones(len(t)),
            "isotropic decay": targets["isotropic"](c) / gen,
            "longitudinal decay": targets["longitudinal"](c) / gen,
            "boson mass within 15 widths": onshell.astype(float),
            "no b quarks (Z -> b bbar dropped)": nob.astype(float) if cls == "Z" else None,
            "isotropic, on-shell, no Z -> b bbar": targets["isotropic"](c) / gen * onshell * nob,
        }
        if jet_r is not None and t.shape[1] > _TRUTH_COLS["dr_quarks"]:
            inside = t[:, _TRUTH_COLS["dr_quarks"]] < jet_r
            w["decay quarks within R of the jet axis"] = inside.astype(float)
            w["isotropic, on-shell, no Z -> b bbar, quarks within R"] = (
                targets["isotropic"](c) / gen * onshell * nob * inside
            )
        for name, v in w.items():
            v = np.ones(len(t)) if v is None else v
            out.setdefault(name, {})[cls] = v / v.mean()
    return out


def _assemble(sample: str, truth_path: str, replace: str | None):
    """Features and labels: g, q, t from ``sample``; W, Z from ``replace`` or ``truth_path``."""
    from nanotrig.samples import load_jets

    s = load_jets(sample)
    t = np.load(truth_path)
    classes = s.class_names
    # back to generation order (classes in blocks), undoing the file's seeded shuffle
    inv = np.argsort(
        np.random.default_rng(np.random.SeedSequence([int(t["seed"]), 0x5EED])).permutation(
            len(s.labels)
        )
    )
    feats, labs = s.features[inv], s.labels[inv]
    parts, labels = [], []
    for label, cls in enumerate(classes):
        rows = feats[labs == label]
        if cls in _BOSON:
            rows = np.load(replace)[f"{cls}_features"] if replace else t[f"{cls}_features"]
            same = np.array_equal(feats[labs == label], t[f"{cls}_features"])
            print(f"{cls}: the --truth jets equal the sample's: {same}")
        parts.append(rows)
        labels.append(np.full(len(rows), label))
    src = np.load(replace) if replace else t
    truth = {c: src[f"{c}_truth"] for c in _BOSON}
    gen = {c: src[f"{c}_gen_cos"] for c in _BOSON}
    jet_r = float(src["jet_r"]) if "jet_r" in src.files else None
    return (
        np.concatenate(parts),
        np.concatenate(labels),
        classes,
        truth,
        gen,
        s.feature_names,
        jet_r,
    )


def score(args) -> int:
    """Print the variants' weighted accuracy and AUCs (trees and a float MLP, per split seed)."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y, classes, truth, gen, names, jet_r = _assemble(args.sample, args.truth, args.replace)
    mass = x[:, list(names).index("j_mass_mmdt")]
    for cls, t in truth.items():
        lab = classes.index(cls)
        m = mass[y == lab]
        print(
            f"{cls}: b share {np.mean(t[:, 2] == 5):.3f}; boson mass outside 15 widths "
            f"{np.mean(np.abs(t[:, 0] - _POLE[_BOSON[cls]]) >= 15 * _WIDTH[_BOSON[cls]]):.3f}; "
            f"groomed mass 16/50/84 % {np.percentile(m, [16, 50, 84]).round(1).tolist()}; "
            f"< 50 GeV {np.mean(m < 50):.3f} (b: {np.mean(m[t[:, 2] == 5] < 50):.3f}, "
            f"not b: {np.mean(m[t[:, 2] != 5] < 50):.3f}); > 150 GeV {np.mean(m > 150):.3f}"
        )
    print("| variant | trees accuracy | MLP accuracy | AUC g / q / W / Z / t (trees, first split) "
          "| W, Z < 50 GeV |")  # fmt: skip
    print("|---|---|---|---|---|")
    for cls, t in truth.items():
        if jet_r is not None and t.shape[1] > _TRUTH_COLS["dr_quarks"]:
            dq = t[:, _TRUTH_COLS["dr_quarks"]]
            m = mass[y == classes.index(cls)]
            print(
                f"{cls}: decay quarks within R = {jet_r} of the jet axis: {np.mean(dq < jet_r):.3f}"
                f"; groomed < 50 GeV among them {np.mean(m[dq < jet_r] < 50):.3f}, among the "
                f"others {np.mean(m[dq >= jet_r] < 50):.3f}"
            )
    variants = _variants(truth, gen, jet_r)
    unknown = set(args.variants or ()) - set(variants)
    if unknown:
        raise SystemExit(f"unknown --variants {sorted(unknown)}: choose from {list(variants)}")
    for name, per_cls in variants.items():
        if args.variants and name not in args.variants:
            continue
        w = np.ones(len(y))
        for cls, v in per_cls.items():
            w[y == classes.index(cls)] = v
        acc = {"trees": [], "mlp": []}
        aucs = None
        for seed in args.split_seeds:
            tr, te = train_test_split(
                np.arange(len(y)), test_size=0.3, stratify=y, random_state=seed
            )
            tr, te = tr[w[tr] > 0], te[w[te] > 0]
            models = {
                "trees": HistGradientBoostingClassifier(max_iter=100, random_state=0),
                "mlp": make_pipeline(StandardScaler(), MLPClassifier(
                    (64, 32, 32), early_stopping=True, max_iter=300, random_state=0)),
            }  # fmt: skip
            for key, model in models.items():
                if key == "trees":
                    model.fit(x[tr], y[tr], sample_weight=w[tr])
                else:
                    model.fit(x[tr], y[tr], mlpclassifier__sample_weight=w[tr])
                p = model.predict_proba(x[te])
                acc[key].append(np.average(p.argmax(1) == y[te], weights=w[te]))
                if key == "trees" and aucs is None:
                    aucs = [roc_auc_score(y[te] == i, p[:, i], sample_weight=w[te])
                            for i in range(len(classes))]  # fmt: skip
        low = [np.average(mass[y == classes.index(c)] < 50, weights=per_cls[c]) for c in _BOSON]
        print(
            f"| {name} | {' / '.join(f'{a:.3f}' for a in acc['trees'])} "
            f"| {' / '.join(f'{a:.3f}' for a in acc['mlp'])} "
            f"| {' / '.join(f'{a:.3f}' for a in aucs)} | {low[0]:.3f} / {low[1]:.3f} |",
            flush=True,
        )
    if args.learning_curve:
        sys.path.insert(0, str(Path(__file__).parent))
        from jet_learning_curve import learning_curve

        from nanotrig.config import load_config

        cfg = load_config(args.config)
        order = np.random.default_rng(np.random.SeedSequence([cfg.seed, 0x5EED])).permutation(
            len(y)
        )
        print(
            "| training jets | test accuracy | AUC g | AUC q | AUC W | AUC Z | AUC t | epochs | s |"
        )
        for line in learning_curve(x[order], y[order], classes, names, cfg, args.learning_curve):
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
