#!/usr/bin/env bash
# Speech benchmark: real-time factor and peak memory of Hearth's transcription pipeline
# (scribe front end + whisper-rs) against whisper.cpp itself (driver.c, linked against the
# very static libraries whisper-rs-sys built), on the same 10 minutes of real speech and on
# 10 minutes with 30% silence. Random-weight tiny.en and base.en models, 2 threads, fixed work
# per 30 s window (no timestamps, token cap) because random weights never emit end-of-text.
#
#   evals/bench/whisper_raw/run.sh [REPEATS]     (from anywhere; prints JSON lines)
#   SIZES=tiny.en THREADS=2 MAX_TOKENS=16 evals/bench/whisper_raw/run.sh 3
#
# Needs: cargo, cc, sox, ffmpeg, python3, ../shared/audio and ../shared/models.
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
here="$root/evals/bench/whisper_raw"
repeats="${1:-1}"
threads="${THREADS:-2}"
max_tokens="${MAX_TOKENS:-16}"
audio_src="${HEARTH_AUDIO_DIR:-$root/../shared/audio}"
work="$root/target/bench-whisper"
mkdir -p "$work"
cd "$root"

# 1. Our side, the model generator, and the static libraries they link.
cargo build -q -p scribe --example bench_transcribe
cargo build -q -p models --features testing --bin make-ggml-whisper
out="$(ls -td target/debug/build/whisper-rs-sys-*/out | head -1)"
src="$(ls -d ~/.cargo/registry/src/*/whisper-rs-sys-0.15.0/whisper.cpp | head -1)"
cc -O2 -o "$work/driver" "$here/driver.c" -I"$src/include" -I"$src/ggml/include" \
  "$out/lib/libwhisper.a" "$out/lib/libggml.a" "$out/lib/libggml-cpu.a" "$out/lib/libggml-base.a" \
  -lstdc++ -lm -lpthread

# 2. Models.
for size in tiny.en base.en; do
  [ -f "$work/ggml-random-$size.bin" ] || target/debug/make-ggml-whisper "$size" "$work/ggml-random-$size.bin"
done

# 3. Audio: 10 minutes of the real clips back to back, and 10 minutes that is 30% silence
#    (7 s of speech then 3 s of digital silence, repeated).
if [ ! -f "$work/speech.wav" ]; then
  sox "$audio_src/jfk.wav" "$audio_src/churchill.wav" "$work/pair.wav"
  sox "$audio_src/note-22khz.wav" -r 16000 "$work/note16.wav"
  sox "$work/pair.wav" "$work/note16.wav" "$work/trio.wav"
  sox "$work/trio.wav" "$work/speech.wav" repeat 20 trim 0 600
  python3 - "$work/speech.wav" "$work/silence30.wav" <<'PY'
import sys, wave
src, dst = sys.argv[1], sys.argv[2]
with wave.open(src) as w:
    frames = w.readframes(w.getnframes())
rate, speech, pause = 16000, 7 * 16000 * 2, 3 * 16000 * 2
out, at = bytearray(), 0
while len(out) < 600 * rate * 2:
    out += frames[at:at + speech] + bytes(pause)
    at += speech
with wave.open(dst, "wb") as w:
    w.setnchannels(1); w.setsampwidth(2); w.setframerate(rate)
    w.writeframes(bytes(out[:600 * rate * 2]))
PY
  for a in speech silence30; do
    ffmpeg -hide_banner -loglevel error -y -i "$work/$a.wav" -f f32le -ac 1 -ar 16000 "$work/$a.f32"
  done
fi

# 4. Alternate the sides so drift in machine load hits both.
for r in $(seq 1 "$repeats"); do
  for size in ${SIZES:-tiny.en base.en}; do
    model="$work/ggml-random-$size.bin"
    for a in speech silence30; do
      tag="\"model\":\"$size\",\"audio\":\"$a\",\"run\":$r,"
      echo "{$tag$("$work/driver" "$model" "$work/$a.f32" "$threads" "$max_tokens" | cut -c2-)"
      echo "{$tag$(target/debug/examples/bench_transcribe "$model" "$work/$a.wav" "$threads" "$max_tokens" | cut -c2-)"
      echo "{$tag$(target/debug/examples/bench_transcribe "$model" "$work/$a.wav" "$threads" "$max_tokens" --no-vad | cut -c2-)"
    done
  done
done
