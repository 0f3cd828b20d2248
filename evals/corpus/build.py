#!/usr/bin/env python3
"""Builds WebVTT transcripts for Hearth's fictional evaluation corpus from plain scripts.

A script (src/<stem>.txt) has one speaker turn per line, `Voice: words`, where Voice is one of
Clinician, Client, Parent, Partner A, Partner B, Member A..D. Other lines:
  [pause N]   N seconds of silence before the next turn (for late arrivals, exposure timers)
  # ...       a comment
  blank lines are ignored.
Timings are deterministic: speech at 2.5 words per second (150 wpm, conversational), at least
1.2 s per turn, and a gap of 0.3-2.2 s between turns drawn from a generator seeded by the stem,
so the same script always gives the same file. Cue numbers are 1-based positions, as in
../shared/corpus/README.md.

Usage: build.py [stem ...]   (default: every script in src/)
"""
import pathlib, random, re, sys

HERE = pathlib.Path(__file__).resolve().parent
VOICES = {"Clinician", "Client", "Parent", "Partner A", "Partner B",
          "Member A", "Member B", "Member C", "Member D"}
WORDS_PER_SECOND = 2.5


def stamp(t: float) -> str:
    ms = int(round(t * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def build(stem: str) -> pathlib.Path:
    src = HERE / "src" / f"{stem}.txt"
    rng = random.Random(stem)
    t = 2.0 + rng.random() * 2.0
    cues = []
    for n, raw in enumerate(src.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r"\[pause (\d+(?:\.\d+)?)\]", line)
        if m:
            t += float(m.group(1))
            continue
        voice, sep, words = line.partition(":")
        if not sep or voice.strip() not in VOICES or not words.strip():
            sys.exit(f"{src}:{n}: expected `Voice: words` with Voice in {sorted(VOICES)}")
        words = words.strip()
        dur = max(1.2, len(words.split()) / WORDS_PER_SECOND)
        cues.append((t, t + dur, voice.strip(), words))
        t += dur + 0.3 + rng.random() * 1.9
    out = HERE / f"{stem}.vtt"
    body = ["WEBVTT", ""]
    for start, end, voice, words in cues:
        body += [f"{stamp(start)} --> {stamp(end)}", f"<v {voice}>{words}", ""]
    out.write_text("\n".join(body), encoding="utf-8")
    last = cues[-1][1]
    print(f"{out.name}: {len(cues)} cues, {last / 60:.1f} minutes (duration_minutes {int(last // 60)})")
    return out


if __name__ == "__main__":
    stems = sys.argv[1:] or sorted(p.stem for p in (HERE / "src").glob("*.txt"))
    for s in stems:
        build(s)
