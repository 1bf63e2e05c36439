# make fuzz-eval: runs the cam-eval parsers / head file fuzzer for
# FUZZ_TIME seconds (default 600) on a copy of its seed corpus.
# make loc-table: the README's localisation table (needs ../shared).
FUZZ_TIME ?= 600
.PHONY: fuzz-eval loc-table
fuzz-eval: build/fuzz/fuzz_eval
	mkdir -p build/fuzz/work-eval && cp tests/fuzz/corpus/eval/* build/fuzz/work-eval/ && \
	nice -n 10 build/fuzz/fuzz_eval -max_total_time=$(FUZZ_TIME) -print_final_stats=1 build/fuzz/work-eval

loc-table: all
	PATH="$(CURDIR)/bin:$$PATH" examples/localisation-table.sh $${CAM_SHARED:-../shared} build/loc-table
