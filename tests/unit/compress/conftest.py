import pytest

from spotlab.tasks.compress import eden_kernel


@pytest.fixture(autouse=True)
def eden_kernel_for_every_length(monkeypatch):
    """Short inputs normally take EDEN's torch path (eden_kernel.MIN_NUMEL, to spare small jobs numba's compile);
    the compression tests run the fused kernel at every length, so EDEN's vNMSE and bias tests cover it too."""
    monkeypatch.setattr(eden_kernel, "MIN_NUMEL", 0)
