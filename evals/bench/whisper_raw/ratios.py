"""Reads the JSON lines of run.sh (stdin) and prints a Markdown table: Hearth's wall time over
whisper.cpp's for each model and audio, averaged over runs (below 1.0 means Hearth was faster)."""
import json
import sys
from collections import defaultdict

walls = defaultdict(list)
for line in sys.stdin:
    line = line.strip()
    if not line.startswith("{"):
        continue
    row = json.loads(line)
    walls[(row["model"], row["audio"], row["side"])].append(row["wall_s"])

def mean(xs):
    return sum(xs) / len(xs)

print("| model | audio | whisper.cpp s | Hearth s | ratio | Hearth without VAD s | ratio |")
print("|---|---|---|---|---|---|---|")
for model, audio in sorted({(m, a) for m, a, _ in walls}):
    raw = walls.get((model, audio, "whisper.cpp"))
    ours = walls.get((model, audio, "hearth"))
    novad = walls.get((model, audio, "hearth-no-vad"))
    if not raw or not ours or not novad:
        continue
    r, o, n = mean(raw), mean(ours), mean(novad)
    print(f"| {model} | {audio} | {r:.1f} | {o:.1f} | {o / r:.2f} | {n:.1f} | {n / r:.2f} |")
