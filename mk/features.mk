# features.mk - test helper tools for cnn-features (built with `make check`).
#
# tests/tools/NAME.c -> $(BUILD)/tools/NAME, linked with libcam; CLI tests
# find them through CAM_TEST_TOOLS.
FEATURES_TOOL_SRC := $(wildcard tests/tools/*.c)
FEATURES_TOOLS    := $(patsubst tests/tools/%.c,$(BUILD)/tools/%,$(FEATURES_TOOL_SRC))
export CAM_TEST_TOOLS := $(abspath $(BUILD)/tools)

$(BUILD)/tools/%: $(BUILD)/tests/tools/%.o $(LIBCAM)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_ALL) -o $@ $< $(LIBCAM) $(LDLIBS_ALL)

check cli: $(FEATURES_TOOLS)
