"""Dialogue-manager turn latency on the demo tenant's test conversations (models already built).

    python benchmarks/turns.py [--json]

Needs `make setup` (or the same three commands) first; reads the settings like `supportbot serve`.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import yaml

from bot.runtime import build_runtime
from bot.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object on the last line"
    )
    args = parser.parse_args()
    settings = Settings()
    runtime = build_runtime(settings)
    dialogue = runtime.dialogue
    conversations = yaml.safe_load((settings.tenant_dir / "conversations.yml").read_text("utf-8"))
    dialogue.handle(dialogue.open_session(), "hello")  # first call pays one-off initialisation
    timings = []
    for conversation in conversations["conversations"]:
        session = dialogue.open_session()
        for turn in conversation["turns"]:
            started = time.perf_counter()
            dialogue.handle(session, turn["user"])
            timings.append(time.perf_counter() - started)
    runtime.close()
    ms = np.array(timings) * 1000
    result = {
        "turns": len(timings),
        "turn_p50_ms": round(float(np.percentile(ms, 50)), 1),
        "turn_p95_ms": round(float(np.percentile(ms, 95)), 1),
        "turn_mean_ms": round(float(ms.mean()), 1),
    }
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:<13} {value}")


if __name__ == "__main__":
    main()
