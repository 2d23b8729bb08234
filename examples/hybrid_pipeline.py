"""Deploy a hybrid torch + scikit-learn model with cmlc: train, compile, save, load in a fresh
process, score a batch from a file, check it, and time it against torch + scikit-learn.

The model: a small convolutional feature extractor (torch, trained here for a few epochs on the
8x8 digits that scikit-learn ships) whose 16 features feed StandardScaler + LogisticRegression
(scikit-learn). ``cmlc.compile`` turns the whole Pipeline into one graph and one native module.

Steps (each printed):
1. train the torch net, fit the scikit-learn head on its features;
2. compile the Pipeline for ``--target`` and save the artifact (``--artifact``);
3. write the batch to score (``--batch-file``, ``.npy`` or ``.csv``: held-out digits, then
   noisy resampled ones up to ``--rows``);
4. in a fresh Python process (``scoring`` mode): load the artifact, read the batch, predict,
   and save the labels next to it;
5. check those labels against torch + scikit-learn run back to back (identical), and time both.

Run: python examples/hybrid_pipeline.py [--target llvm|cuda] [--rows N] [--batch-file X.npy]
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from quickstart import median_seconds  # examples/ is on sys.path when this script runs

ROW_SHAPE = (1, 8, 8)


def read_batch(path: Path) -> np.ndarray:
    """(n, 64) float32 rows from a ``.npy`` or ``.csv`` (comma-separated, no header) file."""
    if path.suffix == ".npy":
        return np.load(path).astype(np.float32, copy=False)
    if path.suffix == ".csv":
        return np.loadtxt(path, delimiter=",", dtype=np.float32, ndmin=2)
    raise SystemExit(f"--batch-file must end in .npy or .csv, not {path.suffix!r}")


def write_batch(path: Path, X: np.ndarray) -> None:
    if path.suffix == ".npy":
        np.save(path, X)
    elif path.suffix == ".csv":
        np.savetxt(path, X, delimiter=",", fmt="%.9g")
    else:
        raise SystemExit(f"--batch-file must end in .npy or .csv, not {path.suffix!r}")


def score(artifact: str, batch_file: str, labels_file: str) -> None:
    """What a serving process does: load the artifact, score the file, write the labels."""
    import cmlc
    t0 = time.perf_counter()
    model = cmlc.load(artifact)
    X = read_batch(Path(batch_file))
    labels = model.predict(X)
    np.save(labels_file, labels)
    print(f"  [scoring process] loaded {model!r}, scored {len(X):,} rows from {batch_file} "
          f"in {time.perf_counter() - t0:.3f} s")


def train_feature_net(X, y, epochs):
    """A conv net trained as a classifier; its penultimate layer (16 features) is the extractor."""
    import torch
    from torch import nn
    torch.manual_seed(0)
    features = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
                             nn.Flatten(), nn.Linear(64, 16), nn.Tanh())
    classifier = nn.Sequential(features, nn.Linear(16, 10))
    opt = torch.optim.Adam(classifier.parameters(), lr=3e-3)
    xt, yt = torch.as_tensor(X.reshape(-1, *ROW_SHAPE)), torch.as_tensor(y)
    for _ in range(epochs):
        for idx in torch.randperm(len(xt)).split(64):
            opt.zero_grad()
            nn.functional.cross_entropy(classifier(xt[idx]), yt[idx]).backward()
            opt.step()
    return features.eval()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="llvm", choices=["llvm", "cuda"])
    parser.add_argument("--rows", type=int, default=20_000, help="rows in the scored batch")
    parser.add_argument("--batch-file", default=None, help="where to write the batch (.npy or .csv)")
    parser.add_argument("--artifact", default=None, help="where to save the compiled model (.cmlc)")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=7, help="timed runs (median reported)")
    parser.add_argument("--score", nargs=3, metavar=("ARTIFACT", "BATCH", "LABELS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.score:
        score(*args.score)
        return 0

    import torch
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    import cmlc
    import cmlc.target

    work = Path(tempfile.mkdtemp(prefix="cmlc-hybrid-"))
    artifact = Path(args.artifact or work / "hybrid.cmlc")
    batch_file = Path(args.batch_file or work / "batch.npy")
    labels_file = work / "labels.npy"

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
    t0 = time.perf_counter()
    net = train_feature_net(X_train, y_train, args.epochs)
    pipeline = make_pipeline(cmlc.TorchTransformer(net, input_shape=ROW_SHAPE), StandardScaler(),
                             LogisticRegression(max_iter=2000)).fit(X_train, y_train)
    print(f"1. trained torch features + scikit-learn head in {time.perf_counter() - t0:.1f} s; "
          f"held-out accuracy {np.mean(pipeline.predict(X_test) == y_test):.3f}")

    t0 = time.perf_counter()
    compiled = cmlc.compile(pipeline, target=args.target)
    compiled.save(artifact)
    print(f"2. compiled {compiled!r} for {args.target} in {time.perf_counter() - t0:.1f} s; saved {artifact} "
          f"({artifact.stat().st_size / 1e6:.2f} MB)")

    if args.target == "cuda" and cmlc.target.cuda_device_arch() is None:
        print("no CUDA device on this machine: the CUDA artifact is built and saved, but scoring it needs a GPU "
              "(run with --target llvm here)", file=sys.stderr)
        return 2

    rng = np.random.default_rng(0)
    extra = max(0, args.rows - len(X_test))
    noisy = np.clip(X[rng.integers(0, len(X), extra)] + rng.normal(0, 0.1, (extra, X.shape[1])), 0, 1)
    batch = np.concatenate([X_test, noisy.astype(np.float32)])[:args.rows]
    write_batch(batch_file, batch)
    batch = read_batch(batch_file)           # exactly what the scoring process reads
    print(f"3. wrote {len(batch):,} rows to {batch_file}")

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[1]),
                                                                      os.environ.get("PYTHONPATH")]))}
    subprocess.run([sys.executable, __file__, "--score", str(artifact), str(batch_file), str(labels_file)],
                   check=True, env=env)
    labels = np.load(labels_file)
    print("4. a fresh process loaded the artifact and scored the file")

    reference = pipeline.predict(batch)        # torch (TorchTransformer) then scikit-learn, back to back
    same = np.array_equal(labels, reference)
    print(f"5. labels identical to torch + scikit-learn on {len(batch):,} rows: {same}")
    torch.set_num_threads(len(os.sched_getaffinity(0)))
    t_ref = median_seconds(pipeline.predict, batch, args.repeats)
    time.sleep(0.5)   # let torch's and BLAS's worker threads go idle before timing cmlc
    t_cmlc = median_seconds(compiled.predict, batch, args.repeats)
    print(f"\npredict, {len(batch):,} rows: torch + scikit-learn {t_ref * 1e3:.1f} ms, cmlc {t_cmlc * 1e3:.1f} ms "
          f"-> {t_ref / t_cmlc:.1f}x faster")
    if not same:
        print("MISMATCH: cmlc's labels differ from torch + scikit-learn's", file=sys.stderr)
        return 1
    print("OK: the compiled hybrid answers exactly like torch + scikit-learn")
    return 0


if __name__ == "__main__":
    sys.exit(main())
