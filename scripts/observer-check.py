#!/usr/bin/env python3
"""A second, independent observer: other classifiers on other window features than smig's own (smig analyze
--adversary), to check that what smig's observer cannot tell apart is not just what its random forest happens to
miss. Development aid, not part of smig: it needs python3 with scikit-learn and numpy, and tshark.

Each class is a capture and a tshark display filter (one direction of one link). Windows of --window seconds every
--step seconds; windows without a packet are left out (as smig's observer does). Features, none of them smig's:
  - CUMUL: the window's cumulative bytes at 20 evenly spaced points of its packet sequence (Panchenko et al. 2016),
    divided by the window's bytes, and the window's packet and byte counts;
  - the packets and bytes of each 250 ms slice of the window, sorted (the shape of the rate inside the window);
  - the share of packets in 16 size bins of 100 bytes, and of full-size packets;
  - the share of gaps in 14 half-decade bins from 10 us to 100 s;
  - bursts at 1 ms, 10 ms and 100 ms thresholds: count, mean and largest burst in bytes;
  - consecutive size pairs: share of small->large, large->large and large->small (large: over 1000 bytes).
Classifiers: histogram gradient boosting (leaves of 4 windows: captures give few), extra trees, k nearest neighbours (scaled), logistic regression (scaled).
Cross-validation: stratified 5-fold, repeated 3 times with fixed seeds; --cv blocks deals runs of 4 consecutive
windows to folds together, so overlapping windows do not sit on both sides of a fold.

Every class is scored against --ref, and beside it the baseline: --ref's even against its odd 10 s blocks, and
--base (if given, e.g. the half the profile was learned from) against --ref.

Example (a smig bench directory of the shipped netflix capture):
  scripts/observer-check.py --ref D/normal-holdout.pcap --ref-filter 'ip.dst==192.168.1.7 && tcp' \\
      --base D/normal-learn.pcap \\
      --link 'relay1=D/captures/profile-840000-h2.pcap:ip.src==10.77.0.1 && ip.dst==10.77.0.2'
Prints a table, or JSON with --json.
"""
import argparse
import json
import subprocess
import sys

import numpy as np
from sklearn.ensemble import ExtraTreesClassifier, HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

SLICE = 0.25
SIZE_BINS = np.arange(0, 1601, 100)
GAP_BINS = np.concatenate([[0.0], 10.0 ** np.arange(-5, 2.01, 0.5), [np.inf]])


def packets(path, flt):
    """(times in s from the capture's first packet, frame lengths) of the packets tshark's filter keeps."""
    out = subprocess.run(
        ['tshark', '-r', path, '-Y', flt, '-T', 'fields', '-e', 'frame.time_epoch', '-e', 'frame.len'],
        capture_output=True, text=True, check=False,
    )
    if out.returncode != 0:
        sys.exit(f'observer-check: tshark on {path}: {out.stderr.strip().splitlines()[-1] if out.stderr else "failed"}')
    rows = [line.split('\t') for line in out.stdout.splitlines() if line]
    if not rows:
        sys.exit(f'observer-check: {path}: no packet matches {flt!r}')
    t = np.array([float(r[0]) for r in rows])
    s = np.array([int(r[1]) for r in rows])
    return t - t[0], s


def bursts(t, s, thr):
    if len(t) == 0:
        return [0.0, 0.0, 0.0]
    cut = np.flatnonzero(np.diff(t) > thr) + 1
    sums = np.array([x.sum() for x in np.split(s, cut)])
    return [float(len(sums)), float(sums.mean()), float(sums.max())]


def features(t, s, t0, width):
    n = len(s)
    total = float(s.sum())
    cum = np.cumsum(s) / total
    cumul = np.interp(np.linspace(0, n - 1, 20), np.arange(n), cum) if n > 1 else np.ones(20)
    k = int(round(width / SLICE))
    idx = np.minimum(((t - t0) / SLICE).astype(int), k - 1)
    pk = np.sort(np.bincount(idx, minlength=k)).astype(float)
    by = np.sort(np.bincount(idx, weights=s, minlength=k))
    sizes = np.histogram(np.minimum(s, 1600), SIZE_BINS)[0] / n
    full = [float(np.mean(s >= s.max() - 1))] if n else [0.0]
    gaps = np.diff(t)
    gh = np.histogram(gaps, GAP_BINS)[0] / max(1, len(gaps))
    large = s > 1000
    pairs = [np.mean(~large[:-1] & large[1:]), np.mean(large[:-1] & large[1:]), np.mean(large[:-1] & ~large[1:])] if n > 1 else [0, 0, 0]
    b = bursts(t, s, 0.001) + bursts(t, s, 0.01) + bursts(t, s, 0.1)
    return np.concatenate([[n, total], cumul, pk, by, sizes, full, gh, b, pairs])


def windows(t, s, width, step):
    rows = []
    start = 0.0
    while start + width <= t[-1] + 1e-9:
        m = (t >= start) & (t < start + width)
        if m.any():
            rows.append((start, features(t[m], s[m], start, width)))
        start += step
    return rows


def blocks(t, s, seconds, parity):
    """The packets of the even (0) or odd (1) blocks, each part's time closed up (as smig bench's split does)."""
    k = np.floor(t / seconds).astype(int)
    m = k % 2 == parity
    return (k[m] // 2) * seconds + (t[m] - k[m] * seconds), s[m]


def classifiers(seed):
    return {
        'gboost': HistGradientBoostingClassifier(min_samples_leaf=4, random_state=seed),
        'extratrees': ExtraTreesClassifier(n_estimators=300, random_state=seed, n_jobs=1),
        'knn': make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=5)),
        'logreg': make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)),
    }


def auc(a, b, cv_mode):
    """Mean ROC AUC of each classifier, `a` (label 1) against `b` (label 0)."""
    if len(a) < 5 or len(b) < 5:
        return {name: None for name in classifiers(0)}
    x = np.array([f for _, f in a] + [f for _, f in b])
    y = np.array([1] * len(a) + [0] * len(b))
    group = np.array([i // 4 for i in range(len(a))] + [100000 + i // 4 for i in range(len(b))])
    out = {}
    for name in classifiers(0):
        scores = []
        for rep in range(3):
            folds = StratifiedKFold(5, shuffle=True, random_state=rep)
            if cv_mode == 'blocks':
                g = np.unique(group)
                gy = np.array([y[group == v][0] for v in g])
                gf = list(folds.split(g, gy))
                splits = [(np.flatnonzero(np.isin(group, g[tr])), np.flatnonzero(np.isin(group, g[te]))) for tr, te in gf]
            else:
                splits = list(folds.split(x, y))
            p = np.zeros(len(y))
            for tr, te in splits:
                c = classifiers(rep)[name]
                c.fit(x[tr], y[tr])
                p[te] = c.predict_proba(x[te])[:, 1]
            scores.append(roc_auc_score(y, p))
        out[name] = float(np.mean(scores))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--ref', required=True, help='reference capture (the hold-out)')
    ap.add_argument('--ref-filter', required=True, help='tshark display filter of its direction')
    ap.add_argument('--base', help='another normal capture scored against --ref (same filter), e.g. the learned half')
    ap.add_argument('--link', action='append', default=[], help='NAME=CAPTURE:FILTER, one per class')
    ap.add_argument('--window', type=float, default=5.0)
    ap.add_argument('--step', type=float, default=2.5)
    ap.add_argument('--cv', choices=['windows', 'blocks'], default='windows')
    ap.add_argument('--json', action='store_true')
    o = ap.parse_args()
    rt, rs = packets(o.ref, o.ref_filter)
    ref = windows(rt, rs, o.window, o.step)
    rows = [('normal: --ref even vs odd 10 s blocks',
             auc(windows(*blocks(rt, rs, 10.0, 0), o.window, o.step), windows(*blocks(rt, rs, 10.0, 1), o.window, o.step), o.cv), None)]
    if o.base:
        rows.append(('normal: --base vs --ref', auc(windows(*packets(o.base, o.ref_filter), o.window, o.step), ref, o.cv), None))
    for spec in o.link:
        name, _, rest = spec.partition('=')
        path, _, flt = rest.partition(':')
        w = windows(*packets(path, flt), o.window, o.step)
        rows.append((name, auc(w, ref, o.cv), len(w)))
    if o.json:
        print(json.dumps({'window': o.window, 'step': o.step, 'cv': o.cv, 'refWindows': len(ref),
                          'rows': [{'class': n, 'windows': w, 'auc': a} for n, a, w in rows]}, indent=2))
        return
    names = list(classifiers(0))
    print(f"{'class':44s} {'windows':>7s} " + ' '.join(f'{n:>10s}' for n in names))
    for n, a, w in rows:
        print(f'{n:44s} {"" if w is None else w:>7} ' + ' '.join(f'{"-" if a[k] is None else format(a[k], ".2f"):>10s}' for k in names))
    print(f'reference windows: {len(ref)}; {o.window} s windows every {o.step} s; cv {o.cv}', file=sys.stderr)


if __name__ == '__main__':
    main()
