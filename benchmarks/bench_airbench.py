"""airbench timing from the command line: the GPU comparison with airbench94_muon.py (2.59 s per run on
an A100), synthetic CIFAR-10 shapes unless --data names a cache the airbench_data rule made. The
training is workflow/scripts/airbench.py's; the settings are config.yaml's airbench section.

    python benchmarks/bench_airbench.py --device cuda --lmo f-muon --alpha 0.5 --seeds 8
"""
import argparse
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow/scripts"))
import cifar10  # noqa: E402
from airbench import device_of, run_block  # noqa: E402
from job import device_name  # noqa: E402
from report import method_label  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=str(REPO / "config.yaml"), help="a YAML file with the `airbench` section")
    parser.add_argument("--data", help="a cache made by the airbench_data rule (default: full-size synthetic)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--hyper", default="reference")
    parser.add_argument("--lmo", default="muon")
    parser.add_argument("--alpha", type=float)
    parser.add_argument("--k", type=int)
    parser.add_argument("--backend")
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--out", help="also write the runs as CSV (appended to, with the device and method)")
    args = parser.parse_args()
    config = yaml.safe_load(Path(args.config).read_text())["airbench"]
    method = {"lmo": args.lmo} | {key: value for key in ("alpha", "k", "backend")
                                  if (value := getattr(args, key)) is not None}
    settings = {"train": config["train"], "hyper": config["hyper"][args.hyper], "method": method,
                "seeds": list(range(args.seeds))}
    data = cifar10.load(args.data) if args.data else cifar10.synthetic(5000, 1000)
    device = device_of(args.device)
    frame = run_block(settings, data, device, not args.no_compile)
    print(frame.to_string(index=False))
    seconds = frame.train_seconds + frame.eval_seconds
    print(f"{method_label(method)} on {device_name(device)}: {seconds.median():.3f} s per run (median, "
          f"min {seconds.min():.3f}), accuracy {frame.accuracy.mean():.4f} ± {frame.accuracy.std():.4f} "
          f"({data['source']} data)")
    if args.out:
        out = Path(args.out)
        frame.insert(0, "device", device_name(device))
        frame.to_csv(out, mode="a", header=not out.exists(), index=False)


if __name__ == "__main__":
    main()
