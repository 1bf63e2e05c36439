# make bench: cnn-features against ONNX Runtime on the shared models, then
#   the dataset throughput line.
# make bench-dataset: the dataset throughput line alone (cam-dataset over
#   ../shared/data/ilsvrc-dev against 90% of two cores' single-thread rate).
# make bench-deps: installs ONNX Runtime for Node (npm) into $(ORT_DIR).
ORT_DIR ?= $(HOME)/.cache/ort
.PHONY: bench bench-dataset bench-deps

$(BUILD)/bench_rtt: tests/bench/bench_rtt.c $(BUILD)/.flags
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS_ALL) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $< $(LDLIBS_ALL)

bench: all $(BUILD)/bench_rtt
	ORT_DIR=$(ORT_DIR) RTT=$(BUILD)/bench_rtt tests/bench/bench.sh $(BENCH_FLAGS)

bench-dataset: all
	tests/bench/bench.sh -dataset-only $(BENCH_FLAGS)

bench-deps:
	@command -v npm >/dev/null || { echo "bench-deps: npm is needed (apt-get install npm)"; exit 1; }
	mkdir -p $(ORT_DIR) && cd $(ORT_DIR) && { [ -f package.json ] || npm init -y >/dev/null; } && \
	  ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node@1.30.0
