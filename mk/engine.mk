# make bench-engine: ms per inference of the engine (median of 20 runs) at
# 1 and 2 threads on GoogLeNet (BENCH_ENGINE_MODEL=... for another model;
# BENCH_ENGINE_FLAGS="-p" adds the time per operator type, "-n" each
# node's fastest run).
BENCH_ENGINE_MODEL ?= ../shared/models/googlenet-bvlc.onnx
BENCH_ENGINE_FLAGS ?=
.PHONY: bench-engine
$(BUILD)/bench_engine: tests/bench/bench_engine.c $(LIBCAM)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS_ALL) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $< $(LIBCAM) $(LDLIBS_ALL)

bench-engine: $(BUILD)/bench_engine
	$(BUILD)/bench_engine $(BENCH_ENGINE_FLAGS) $(BENCH_ENGINE_MODEL) 1 2
