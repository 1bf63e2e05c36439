# make bench-libs: our convolution kernels against oneDNN, XNNPACK and
# OpenBLAS (im2col + sgemm) on every convolution of GoogLeNet, SqueezeNet,
# ResNet-18 and MobileNetV2, 1 and 2 threads (tests/bench/bench_libs.c;
# BENCH_LIBS_FLAGS="-n resnet18 -t 1 -r 9" narrows it, -l cin,hw,cout,k,s,g
# times one layer).  The libraries are for this benchmark only: nothing
# else builds or links with them.  make bench-libs-deps installs them.
#
# `make check` builds the same program without any library (only our
# kernels against the reference) and tests/cli/bench-libs.t runs it.
BENCH_LIBS_PKGS  = libdnnl-dev libxnnpack-dev libpthreadpool-dev libopenblas-dev
BENCH_LIBS_FLAGS ?=
BENCH_LIBS_LIBS  = -ldnnl -lXNNPACK -lpthreadpool -lopenblas
# Compiles and links a program using all three, without building anything.
BENCH_LIBS_PROBE = printf '\#include <oneapi/dnnl/dnnl.h>\n\#include <xnnpack.h>\n\#include <cblas.h>\nint main(void) { openblas_set_num_threads(1); return xnn_initialize(0) == xnn_status_success && dnnl_version() ? 0 : 1; }\n' | \
	$(CC) -x c - -o /dev/null $(BENCH_LIBS_LIBS) >/dev/null 2>&1

.PHONY: bench-libs bench-libs-deps bench-libs-probe

bench-libs: $(BUILD)/bench_libs
	$(BUILD)/bench_libs $(BENCH_LIBS_FLAGS)

bench-libs-probe:
	@$(BENCH_LIBS_PROBE) || { \
	  echo "bench-libs: oneDNN, XNNPACK and OpenBLAS are needed: apt-get install $(BENCH_LIBS_PKGS)"; \
	  echo "bench-libs: (or: make bench-libs-deps)"; exit 1; }

$(BUILD)/bench_libs: tests/bench/bench_libs.c $(LIBCAM) $(BUILD)/.flags | bench-libs-probe
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS_ALL) -DBL_DNNL=1 -DBL_XNN=1 -DBL_BLAS=1 $(CFLAGS_ALL) -fopenmp $(LDFLAGS_ALL) \
	  -o $@ $< $(LIBCAM) $(BENCH_LIBS_LIBS) $(LDLIBS_ALL)

bench-libs-deps:
	@if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(BENCH_LIBS_PKGS)

# Without any library: our kernels only, for make check.
$(BUILD)/tools/bench_libs_ours: tests/bench/bench_libs.c $(LIBCAM) $(BUILD)/.flags
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS_ALL) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $< $(LIBCAM) $(LDLIBS_ALL)

check cli: $(BUILD)/tools/bench_libs_ours
