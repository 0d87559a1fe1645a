"""tfbert's benchmarks, kept in the repository and out of the installed package.

Run them from the repository's root: `python benchmarks/run.py --help` (tfbert against
keras-hub and Hugging Face), `python benchmarks/serving.py --help` (the model server's latency
and throughput), `python benchmarks/onednn_int8.py --help` (int8 matmul kernels). Measured
results and how they were run are in `benchmarks/results/`.
"""
