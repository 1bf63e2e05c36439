# mk/quant.mk - fuzzing the engine on quantised TFLite models:
#   make fuzz-quant [FUZZ_TIME=60]
# New inputs go to build/fuzz/corpus-qengine, crashes to build/fuzz/;
# the seeds in tests/fuzz/corpus/ are only read.
FUZZ_TIME ?= 60

.PHONY: fuzz-quant
fuzz-quant: build/fuzz/fuzz_qengine
	@mkdir -p build/fuzz/corpus-qengine
	UBSAN_OPTIONS=halt_on_error=1 nice -n 10 build/fuzz/fuzz_qengine -max_total_time=$(FUZZ_TIME) \
	  -max_len=16384 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix=build/fuzz/ \
	  build/fuzz/corpus-qengine tests/fuzz/corpus/qengine tests/fuzz/corpus/tflite
