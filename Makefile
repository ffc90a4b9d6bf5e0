# make run: train the default model on the full data.  make test: every test, on lavapipe
# where there is no GPU.  Both install what is missing first (scripts/deps.sh; `deps.sh test`
# adds the tools the tests run: python3, GNU parallel, Slurm, munge, spirv-val, glslang).
.PHONY: deps build run test bench
deps:
	./scripts/deps.sh

build: deps
	cargo build --release

run: build
	./target/release/mlp-gpu train

test:
	./scripts/deps.sh test
	cargo test --release

bench: build
	./target/release/mlp-gpu bench
