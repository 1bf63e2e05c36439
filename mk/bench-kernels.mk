# make bench-kernels: GFLOP/s of the convolution kernels on the layers of
# GoogLeNet, MobileNetV2 and ResNet-18 (BENCH_KERNELS_FLAGS=-v per layer).
BENCH_KERNELS_FLAGS ?=
.PHONY: bench-kernels
$(BUILD)/bench_kernels: tests/bench/bench_kernels.c $(LIBCAM)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS_ALL) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $< $(LIBCAM) $(LDLIBS_ALL)

bench-kernels: $(BUILD)/bench_kernels
	$(BUILD)/bench_kernels $(BENCH_KERNELS_FLAGS)
