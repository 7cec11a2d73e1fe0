#!/usr/bin/env bash
# The prepared GPU check: one command, about 6-7 minutes on one H100 (at most 8), everything under one
# output folder with summary.json. GPU time is short: this is ready so that it is spent measuring.
#
#   bash benchmarks/gpu_check.sh [--out DIR] [--data DIR] [--only NAME,NAME] [--dry-run]
#
# 1. the CUDA tests (tests/test_cuda.py, marker `cuda`): cached vs uncached and batched vs alone give
#    the same tokens under fp32 and bf16, the GPT-2 passes match transformers' forward under autocast,
#    the training forward matches the slow reference, and the step loop never waits for the GPU;
# 2. benchmarks/engine_speed.py --device cuda --model gpt2-124m (the paper's shape): latent vs plain
#    training step, batched vs one-at-a-time generation, tokens/s, MFU, peak memory (bf16 at evaluation
#    batches 64 and 256, fp32 at 64); and the training steps again with the transformer body
#    torch.compile'd (inductor, fp32; the dry run traces with aot_eager instead of generating code);
# 3. benchmarks/paper_probe.py: real training steps of ProsQA Coconut at the paper's batch (stage 0 and
#    the final stage) and one validation pass, extrapolated to the paper's 50-epoch run (fp32, the
#    paper's precision, and bf16).
# --only: run just these steps (names as in summary.json), e.g. to redo the ones that failed.
# --dry-run: the same steps at tiny sizes on the CPU (seconds to a minute; CI runs it, so the script
# keeps working where no GPU is; its steps have no time limit). Each step has its own log and, on the
# GPU, its own time limit; a failing step is recorded in summary.json and the others still run.
# Exit status: 0 if every step passed.
# Data: --data DIR, else ../shared/data/prosqa beside the repository, else .gpu_data/prosqa (a copy
# carried to a GPU machine), else generated with `cocobench gen prosqa`.
set -uo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
OUT="$REPO/runs/gpu_check"
DATA=""
DRY=0
ONLY=""
while [ $# -gt 0 ]; do
    case "$1" in
        --out) OUT="$2"; shift 2 ;;
        --data) DATA="$2"; shift 2 ;;
        --dry-run) DRY=1; shift ;;
        --only) ONLY=",$2,"; shift 2 ;;
        -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
        *) echo "error: unknown argument '$1'; see \`bash benchmarks/gpu_check.sh --help\`" >&2; exit 2 ;;
    esac
done
PY="${PYTHON:-python3}"
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
STEPS="$OUT/steps.tsv"
: > "$STEPS"

# step NAME LIMIT_S COMMAND...: run with a time limit, log to $OUT/NAME.log, record name/rc/seconds.
step() {
    local name="$1" limit="$2"; shift 2
    if [ -n "$ONLY" ] && [[ "$ONLY" != *",$name,"* ]]; then return; fi
    local start=$SECONDS
    # The limits are sized for the GPU; a dry run on a loaded CPU (CI) may take longer and must not fail for it.
    [ $DRY = 1 ] && limit=0  # timeout 0: no limit
    echo "== $name (limit $([ "$limit" = 0 ] && echo none || echo "${limit}s")): $*"
    (cd "$REPO" && timeout "$limit" "$@") > "$OUT/$name.log" 2>&1
    local rc=$?
    printf '%s\t%s\t%s\n' "$name" "$rc" "$((SECONDS - start))" >> "$STEPS"
    tail -n 4 "$OUT/$name.log" | cut -c1-240
    echo "   -> rc $rc, $((SECONDS - start)) s"
}

if [ -z "$DATA" ]; then
    for candidate in "$REPO/../shared/data/prosqa" "$REPO/.gpu_data/prosqa"; do
        if [ -d "$candidate" ]; then DATA="$(cd "$candidate" && pwd)"; break; fi
    done
fi
if [ -z "$DATA" ]; then
    DATA="$OUT/prosqa"
    step gen_data 300 "$PY" -m cocobench gen prosqa --out "$DATA" --train 8 --valid $([ $DRY = 1 ] && echo 16 || echo 500) --test $([ $DRY = 1 ] && echo 16 || echo 500) --quiet
fi
VALID_FILE="$(ls "$DATA"/*valid*.json 2>/dev/null | head -n 1)"

"$PY" - > "$OUT/environment.json" 2>&1 <<'EOF'
import json, platform, torch, transformers
cuda = torch.cuda.is_available()
print(json.dumps({"torch": torch.__version__, "transformers": transformers.__version__, "python": platform.python_version(), "cuda": torch.version.cuda,
                  "device": torch.cuda.get_device_name(0) if cuda else "cpu",
                  "memory_gib": round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1) if cuda else None}))
EOF
command -v nvidia-smi > /dev/null && nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1

if [ $DRY = 1 ]; then
    step cuda_tests 300 "$PY" -m pytest -q -p no:cacheprovider tests/test_cuda.py --junitxml="$OUT/cuda_tests.xml"
    step engine_speed_bf16_b64 300 "$PY" benchmarks/engine_speed.py --device cpu --model gpt2-tiny --precision bf16 --repeats 1 --rounds 1 --baseline-examples 2 --eval-examples 32 --data "$VALID_FILE" --json-out "$OUT/engine_speed_bf16_b64.json"
    step engine_speed_compile_fp32 300 "$PY" benchmarks/engine_speed.py --device cpu --model gpt2-tiny --precision fp32 --compile aot_eager --no-generation --no-codi --repeats 1 --data "$VALID_FILE" --json-out "$OUT/engine_speed_compile_fp32.json"
    step paper_probe_fp32 300 "$PY" benchmarks/paper_probe.py --dry-run --data "$DATA" --json-out "$OUT/paper_probe_fp32.json"
else
    step cuda_tests 150 "$PY" -m pytest -q -p no:cacheprovider -m cuda tests/test_cuda.py --junitxml="$OUT/cuda_tests.xml"
    step engine_speed_bf16_b64 120 "$PY" benchmarks/engine_speed.py --device cuda --model gpt2-124m --precision bf16 --eval-batch 64 --data "$VALID_FILE" --json-out "$OUT/engine_speed_bf16_b64.json"
    step engine_speed_bf16_b256 120 "$PY" benchmarks/engine_speed.py --device cuda --model gpt2-124m --precision bf16 --eval-batch 256 --repeats 3 --data "$VALID_FILE" --json-out "$OUT/engine_speed_bf16_b256.json"
    step engine_speed_fp32_b64 120 "$PY" benchmarks/engine_speed.py --device cuda --model gpt2-124m --precision fp32 --eval-batch 64 --repeats 3 --rounds 1 --data "$VALID_FILE" --json-out "$OUT/engine_speed_fp32_b64.json"
    step engine_speed_compile_fp32 150 "$PY" benchmarks/engine_speed.py --device cuda --model gpt2-124m --precision fp32 --compile inductor --no-generation --no-codi --data "$VALID_FILE" --json-out "$OUT/engine_speed_compile_fp32.json"
    step paper_probe_fp32 200 "$PY" benchmarks/paper_probe.py --device cuda --precision fp32 --steps 120 --data "$DATA" --json-out "$OUT/paper_probe_fp32.json"
    step paper_probe_bf16 150 "$PY" benchmarks/paper_probe.py --device cuda --precision bf16 --steps 80 --data "$DATA" --json-out "$OUT/paper_probe_bf16.json"
fi

# summary.json: every step's status and time, the environment, and the measured numbers.
"$PY" - "$OUT" "$DRY" <<'EOF'
import json, sys
import xml.etree.ElementTree as ET
from pathlib import Path
out, dry = Path(sys.argv[1]), sys.argv[2] == "1"
steps = {}
for line in (out / "steps.tsv").read_text().splitlines():
    name, rc, seconds = line.split("\t")
    steps[name] = {"rc": int(rc), "seconds": int(seconds), "passed": rc == "0"}
    result = out / f"{name}.json"
    if result.is_file():
        steps[name]["result"] = json.loads(result.read_text())
junit = out / "cuda_tests.xml"
if junit.is_file() and "cuda_tests" in steps:
    suite = ET.parse(junit).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    steps["cuda_tests"]["tests"] = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
try:
    environment = json.loads((out / "environment.json").read_text())
except (OSError, ValueError):
    environment = {"error": (out / "environment.json").read_text()[-500:] if (out / "environment.json").is_file() else "missing"}
summary = {"dry_run": dry, "environment": environment, "all_passed": all(s["passed"] for s in steps.values()), "steps": steps}
(out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
print(f"summary: {out / 'summary.json'} (all passed: {summary['all_passed']})")
sys.exit(0 if summary["all_passed"] else 1)
EOF
