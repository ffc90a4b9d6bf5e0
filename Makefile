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

# The GPU tests once more on wgpu's GL backend (llvmpipe's GL): one at a time, since
# wgpu-hal's GL device aborts when threads wait on its context lock for over a second.
GPU_TESTS := kernels:: network:: training:: pack:: pytorch:: cli::check_

test:
	./scripts/deps.sh test
	cargo test --release
	MLP_GPU_TEST_ADAPTER=gl cargo test --release --test suite -- --test-threads=1 $(GPU_TESTS)

bench: build
	./target/release/mlp-gpu bench
