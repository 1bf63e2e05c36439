# make fuzz-stream: runs the tensor stream and .npy fuzzers one after the
# other (FUZZ_TIME seconds each, default 600) on copies of their seed
# corpora, so that new inputs stay out of the source tree.
FUZZ_TIME ?= 600
.PHONY: fuzz-stream
fuzz-stream: build/fuzz/fuzz_tstream build/fuzz/fuzz_npy
	for h in tstream npy; do \
	  mkdir -p build/fuzz/work-$$h && cp tests/fuzz/corpus/$$h/* build/fuzz/work-$$h/ && \
	  nice -n 10 build/fuzz/fuzz_$$h -max_total_time=$(FUZZ_TIME) -print_final_stats=1 \
	    build/fuzz/work-$$h || exit 1; \
	done
