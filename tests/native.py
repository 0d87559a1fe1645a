"""What the tests know about other native runtimes loaded beside TensorFlow (see the `isolated`
marker in tests/conftest.py)."""

# A crash inside LiteRT's native code (its interpreter or the converter's calibration), seen once
# on a CPU other than AMD EPYC and not reproduced on AMD EPYC: an `isolated` LiteRT test that
# dies by a signal is reported as an expected failure naming where; a wrong result still fails.
LITERT_CRASH = "LiteRT or its converter crashed in native code (README: LiteRT on other CPUs)"
