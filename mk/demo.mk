# demo.mk - `make demo`: the whole CAM pipeline on a real model and image.
#
#   make demo [MODEL=file.onnx|.tflite] [IMAGE=photo.jpg]
#
# Models are looked for in $CAM_MODELS, then ../shared/models; the image
# defaults to ../shared/images/cat.bmp.  Writes demo-out/*.png (never
# committed) and prints the top-5 and the box.

DEMO_MODEL ?= googlenet-bvlc.onnx
DEMO_OUT   ?= demo-out

.PHONY: demo
demo: all
	@set -e; \
	model="$(MODEL)"; \
	if [ -z "$$model" ]; then \
	  for d in "$$CAM_MODELS" ../shared/models; do \
	    if [ -n "$$d" ] && [ -f "$$d/$(DEMO_MODEL)" ]; then model="$$d/$(DEMO_MODEL)"; break; fi; \
	  done; \
	fi; \
	if [ -z "$$model" ] || [ ! -f "$$model" ]; then \
	  echo "make demo: no model: $(DEMO_MODEL) is neither in \$$CAM_MODELS (\"$$CAM_MODELS\") nor in ../shared/models." >&2; \
	  echo "Get one and point CAM_MODELS at its folder, or give MODEL=file:" >&2; \
	  echo "  - googlenet / squeezenet: build them from the BVLC Caffe model zoo weights, or export any" >&2; \
	  echo "    torchvision model: torch.onnx.export(model.eval(), torch.zeros(1,3,224,224), \"m.onnx\"," >&2; \
	  echo "    opset_version=13), adding the preprocess.* metadata keys when the preprocessing is not" >&2; \
	  echo "    torchvision's (see cnn-features(1));" >&2; \
	  echo "  - TFLite: github.com/google-coral/test_data (raw file URLs, e.g." >&2; \
	  echo "    mobilenet_v2_1.0_224_quant.tflite) or any TFLite classifier." >&2; \
	  exit 1; \
	fi; \
	image="$(IMAGE)"; \
	[ -n "$$image" ] || image=../shared/images/cat.bmp; \
	if [ ! -f "$$image" ]; then \
	  echo "make demo: no image: $$image is missing; give IMAGE=photo.jpg" >&2; exit 1; \
	fi; \
	mkdir -p $(DEMO_OUT); \
	name=$$(basename "$${image%.*}"); \
	echo "model $$model, image $$image"; \
	PATH="$(CURDIR)/bin:$$PATH" sh examples/one-image.sh "$$model" "$$image" "$(DEMO_OUT)/$$name-cam.png"; \
	PATH="$(CURDIR)/bin:$$PATH" sh examples/top5-maps.sh "$$model" "$$image" "$(DEMO_OUT)/$$name-top5.png" >/dev/null
