import json

import pytest
from typer.testing import CliRunner

from spotlab.infra.cli import app
from spotlab.tasks.compress.bench import config_for
from spotlab.tasks.compress.config import COMPRESSORS

KEYS = {"method", "bits", "dim", "encode_s", "decode_s", "encode_gbps", "decode_gbps", "bytes_on_wire", "vnmse"}


@pytest.mark.parametrize("method", sorted(COMPRESSORS))
def test_bench_json_has_the_documented_keys_for_every_compressor(method):
    result = CliRunner().invoke(app, ["bench", "compression", "--method", method, "--bits", "2", "--dim", "4096",
                                      "--repeat", "2", "--threads", "1", "--json"])
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)
    assert KEYS <= row.keys() and row["method"] == method and row["dim"] == 4096
    assert row["encode_gbps"] == pytest.approx(4 * 4096 / row["encode_s"] / 1e9)
    assert row["vnmse"] >= 0 and row["bytes_on_wire"] > 0


def test_bench_eden_reports_packed_bytes_and_paper_error():
    result = CliRunner().invoke(app, ["bench", "compression", "--method", "eden", "--bits", "1", "--dim", "65536",
                                      "--repeat", "3", "--json"])
    row = json.loads(result.stdout)
    assert row["bytes_on_wire"] == 65536 // 8 + 12
    assert row["vnmse"] == pytest.approx(0.5708, rel=0.05)


def test_bench_rejects_an_unknown_method_with_exit_2():
    result = CliRunner().invoke(app, ["bench", "compression", "--method", "topk"])
    assert result.exit_code == 2 and "top-k" in result.output


def test_bits_and_ratio_map_onto_each_method():
    assert config_for("qsgd", 3, 64).levels == 7
    assert config_for("random-block", 1, 32).ratio == 32
    assert config_for("eden", 0.5, 64).bits == 0.5
    with pytest.raises(ValueError, match="whole number"):
        config_for("qsgd", 1.5, 64)
