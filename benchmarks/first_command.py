"""How many trials does `twistune tune`'s default study need to find a gain worth confirming?

It runs the README's first command's study (the built-in echo workload, the
default search space, sampler and pairing; no ceiling, which does not change
the search) once per seed for `--trials` trials, and prints for each seed,
at each budget in `--budgets`, the best trial so far: its paired gain with
its 95% interval, and whether that interval lies above `--margin` (a gain
the confirmation that follows will confirm: on echo, confirmed gains were
within 0.1-2.6% of their in-study gains in benchmarks/confirm.py). The
budget the README's first command uses, `DEFAULT_TRIALS` (`twistune tune
--trials`' default), is chosen from these figures: docs/evidence/first_command.md.

Run it alone: it uses both CPUs.

    python benchmarks/first_command.py --seeds 4 --trials 24   # about 5 minutes
    python benchmarks/first_command.py --smoke   # seconds: 1 seed, 3 trials of 2 pairs
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from harness import EchoWorkload, host_lock
from storage import open_storage
from tuner import (
    SEARCH_PAIRING,
    Pairing,
    TuneConfig,
    build_space,
    run_study,
)

# --smoke: end to end in seconds, every figure printed, none worth reading: one seed, three
# trials (the defaults and the first two strategies) of 2 pairs of 30 ms windows each,
# without the stability gate (2 pairs leave an interval wide enough for it to reject any
# trial by chance).
SMOKE = {"seeds": 1, "trials": 3, "budgets": "2,3"}
SMOKE_PAIRING = Pairing(pairs=2, window_s=0.03, warmup_s=0.05)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--budgets", default="8,12,16,20,24")
    parser.add_argument("--margin", type=float, default=1.05)
    parser.add_argument(
        "--smoke",
        action="store_true",
        help=f"end to end in seconds, to check it runs: {SMOKE}, {SMOKE_PAIRING.describe()}",
    )
    args = parser.parse_args()
    if args.smoke:
        vars(args).update(SMOKE)
    pairing = SMOKE_PAIRING if args.smoke else SEARCH_PAIRING
    budgets = [int(b) for b in args.budgets.split(",")]
    workload = EchoWorkload()
    found: dict[int, int] = dict.fromkeys(budgets, 0)
    with tempfile.TemporaryDirectory() as directory:
        for seed in range(1, args.seeds + 1):
            url = f"sqlite:///{Path(directory) / f'seed{seed}.db'}"
            config = TuneConfig(
                study=f"seed {seed}",
                workload=workload,
                space=build_space("echo"),
                trials=args.trials,
                seed=seed,
                ceiling=False,
                pairing=pairing,
            )
            if args.smoke:
                config = replace(config, stability_gate=None)
            with open_storage(url) as storage:
                summary = run_study(config, storage)
                records = sorted(storage.trials(config.study), key=lambda r: r.number)
            line = [f"seed {seed} ({summary.wall_s:.0f} s):"]
            for budget in budgets:
                usable = [r for r in records[:budget] if r.gain is not None and r.values]
                best = max(usable, key=lambda r: r.gain or 0.0, default=None)
                if best is None or best.gain_low is None or best.gain_high is None:
                    line.append(f"{budget}: -")
                    continue
                clear = best.gain_low > args.margin
                found[budget] += clear
                line.append(
                    f"{budget}: #{best.number} {best.gain:.2f}x [{best.gain_low:.2f}, "
                    f"{best.gain_high:.2f}]{' *' if clear else ''}"
                )
            print("  ".join(line), flush=True)
    print(
        f"seeds whose best trial's interval lies above {args.margin:g}, by budget: "
        + ", ".join(f"{b} trials {found[b]}/{args.seeds}" for b in budgets)
    )
    return 0


if __name__ == "__main__":
    with host_lock():
        sys.exit(main())
