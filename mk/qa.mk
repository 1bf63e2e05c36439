# qa.mk - bin/ holds the tools of one build at a time (build/rel or, with
# SANITIZE, build/san): relink them all when the build changes, or a
# sanitised gap-classify stays in bin/ after `make check` following
# `make SANITIZE=address,undefined check` (its objects are not newer).
bin/.build: FORCE
	@echo '$(BUILD)' | cmp -s - $@ || echo '$(BUILD)' > $@

$(TOOLS): bin/.build
