// Minimal whisper.cpp driver for the speech benchmark: the raw library on the same samples
// our pipeline gets, with the same decoding parameters, so the two costs can be compared.
//
//   driver MODEL SAMPLES.f32 THREADS MAX_TOKENS
//
// SAMPLES.f32 is raw little-endian float32, 16 kHz mono (ffmpeg -f f32le -ac 1 -ar 16000).
// Random-weight models never emit end-of-text, so the work is fixed on both sides: no
// timestamps, single segment per 30 s window, greedy, no temperature fallback, max_tokens cap.
// Prints one JSON line: audio seconds, wall seconds, real-time factor, peak RSS (ru_maxrss).
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <sys/resource.h>

#include "whisper.h"

static void quiet(enum ggml_log_level level, const char *text, void *user) {
    (void) level; (void) text; (void) user;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s MODEL SAMPLES.f32 THREADS MAX_TOKENS\n", argv[0]);
        return 2;
    }
    const char *model = argv[1];
    const int threads = atoi(argv[3]);
    const int max_tokens = atoi(argv[4]);

    FILE *f = fopen(argv[2], "rb");
    if (!f) { perror("opening samples"); return 1; }
    fseek(f, 0, SEEK_END);
    long bytes = ftell(f);
    fseek(f, 0, SEEK_SET);
    size_t n = (size_t) bytes / sizeof(float);
    float *samples = malloc(n * sizeof(float));
    if (!samples || fread(samples, sizeof(float), n, f) != n) { fprintf(stderr, "reading samples failed\n"); return 1; }
    fclose(f);

    whisper_log_set(quiet, NULL);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);

    struct whisper_context_params cparams = whisper_context_default_params();
    cparams.use_gpu = false;
    struct whisper_context *ctx = whisper_init_from_file_with_params(model, cparams);
    if (!ctx) { fprintf(stderr, "loading the model failed\n"); return 1; }

    struct whisper_full_params p = whisper_full_default_params(WHISPER_SAMPLING_GREEDY);
    p.n_threads = threads;
    p.language = "en";
    p.no_timestamps = true;
    p.single_segment = true;
    p.no_context = true;
    p.max_tokens = max_tokens;
    p.temperature_inc = 0.0f;
    p.print_progress = false;
    p.print_realtime = false;
    p.print_special = false;
    p.print_timestamps = false;
    p.greedy.best_of = 1;

    if (whisper_full(ctx, p, samples, (int) n) != 0) { fprintf(stderr, "whisper_full failed\n"); return 1; }
    int segments = whisper_full_n_segments(ctx);
    clock_gettime(CLOCK_MONOTONIC, &t1);

    double wall = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    double audio = n / 16000.0;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"side\":\"whisper.cpp\",\"audio_s\":%.1f,\"wall_s\":%.2f,\"rtf\":%.4f,\"segments\":%d,\"peak_rss_mib\":%.1f}\n",
           audio, wall, wall / audio, segments, ru.ru_maxrss / 1024.0);
    whisper_free(ctx);
    free(samples);
    return 0;
}
