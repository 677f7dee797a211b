import pytest
import torch
from scipy.linalg import hadamard

from spotlab.tasks.compress.hadamard import fwht


def butterfly_reference(x: torch.Tensor) -> torch.Tensor:
    """The textbook radix-2 transform, one level at a time."""
    y, h = x.clone(), 1
    while h < x.shape[-1]:
        v = y.view(-1, 2, h)
        a, b = v[:, 0].clone(), v[:, 1].clone()
        v[:, 0], v[:, 1] = a + b, a - b
        h *= 2
    return y


@pytest.mark.parametrize("d", [1, 2, 8, 32, 64, 512])
def test_transform_of_identity_is_the_hadamard_matrix_and_orthogonal(d):
    h = fwht(torch.eye(d, dtype=torch.float64))
    assert torch.equal(h, torch.tensor(hadamard(d), dtype=torch.float64))
    assert torch.allclose(h @ h.T, d * torch.eye(d, dtype=torch.float64))


def test_long_vector_is_bit_for_bit_the_textbook_butterflies_and_inverts():
    x = torch.randn(2**17)  # float32: any other order of the additions rounds differently
    y = fwht(x)
    assert torch.equal(y, butterfly_reference(x))
    x, y = x.double(), fwht(x.double())
    assert torch.allclose(fwht(y) / x.numel(), x)
    assert torch.allclose(y.norm(), x.norm() * x.numel() ** 0.5)


def test_batched_rows_transform_independently():
    x = torch.randn(3, 64, dtype=torch.float64)
    assert torch.allclose(fwht(x), torch.stack([fwht(row) for row in x]))


def test_input_is_not_modified_and_float32_stays_float32():
    x = torch.randn(256)
    before = x.clone()
    assert fwht(x).dtype == torch.float32 and torch.equal(x, before)


def test_non_power_of_two_is_rejected():
    with pytest.raises(ValueError, match="power-of-two"):
        fwht(torch.zeros(12))
