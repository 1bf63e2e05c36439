# mk/onnx.mk - fuzzing the ONNX parsers for a while:
#   make fuzz-onnx [FUZZ_TIME=600]
# New inputs go to build/fuzz/corpus-*, crashes to build/fuzz/crash-*;
# the seeds in tests/fuzz/corpus/ are only read.
FUZZ_TIME ?= 60

.PHONY: fuzz-onnx
fuzz-onnx: build/fuzz/fuzz_onnx build/fuzz/fuzz_onnx_tensor
	@mkdir -p build/fuzz/corpus-onnx build/fuzz/corpus-onnx_tensor
	nice -n 10 build/fuzz/fuzz_onnx -max_total_time=$(FUZZ_TIME) -max_len=8192 -timeout=10 \
	  -print_final_stats=1 -artifact_prefix=build/fuzz/ build/fuzz/corpus-onnx tests/fuzz/corpus/onnx
	nice -n 10 build/fuzz/fuzz_onnx_tensor -max_total_time=$(FUZZ_TIME) -max_len=4096 -timeout=10 \
	  -print_final_stats=1 -artifact_prefix=build/fuzz/ build/fuzz/corpus-onnx_tensor tests/fuzz/corpus/onnx_tensor
