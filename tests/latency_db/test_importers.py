"""Importing published lookup tables (ProxylessNAS YAML) and measurement sets (CSV)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from latency_db.errors import ValidationError
from latency_db.importers.measurement_csv import CsvImport, import_measurement_csv
from latency_db.importers.proxylessnas_lut import LutImport, import_lut
from latency_db.models import Device, Measurement, RuntimeConfig
from latency_db.repositories import measurements
from latency_db.spaces import get_space, resolve_space

LUT_FILE = Path(__file__).resolve().parents[1] / "data" / "proxylessnas_mobile_trim.yaml"
PROXYLESS = get_space("proxyless", 224, 1.0)
CIFAR = resolve_space("fbnet-cifar100")


def _rows(session: Session) -> tuple[int, int, int]:
    return (
        session.scalar(select(func.count()).select_from(Measurement)) or 0,
        session.scalar(select(func.count()).select_from(Device)) or 0,
        session.scalar(select(func.count()).select_from(RuntimeConfig)) or 0,
    )


def _import_lut(session: Session, text: str) -> LutImport:
    return import_lut(
        session=session, text=text, device_name="pixel1", space=PROXYLESS, batch_size=1
    )


def test_published_pixel1_table_covers_the_proxyless_space_and_sums_by_hand(
    session: Session,
) -> None:
    text = LUT_FILE.read_text()
    result = _import_lut(session, text)
    cover = result.coverage
    assert cover.complete and cover.missing == []
    assert cover.found == cover.expected == len(PROXYLESS.all_op_keys()) == 70
    assert cover.extra == 2  # the fixed first block at kernels 5 and 7
    assert result.summary.stored == 70 and result.summary.device_created
    assert result.summary.space_ref == PROXYLESS.ref

    device = session.get(Device, result.summary.device_id)
    runtime = session.get(RuntimeConfig, result.summary.runtime_config_id)
    assert device is not None and device.kind.value == "phone"
    assert runtime is not None and runtime.backend == "published"
    assert runtime.settings == {"format": "proxylessnas", "batch_size": 1}
    table = measurements.lookup_table(
        session=session, device=device, runtime_config=runtime, batch_size=1
    )
    assert set(table) == set(PROXYLESS.all_op_keys())
    fixed = {b.key for b in PROXYLESS.fixed_head_blocks()}
    assert len(PROXYLESS.searchable_op_keys()) == 66 and len(fixed) == 4
    assert set(PROXYLESS.searchable_op_keys()) | fixed <= set(table)
    stem = table["Conv-input:224x224x3-output:112x112x32"]
    assert stem.input_shape == [1, 3, 224, 224] and stem.source.value == "import"
    assert stem.environment["count"] == 982 and stem.environment["source"]["sha256"]

    published = yaml.safe_load(text)
    for seed in range(3):
        arch = PROXYLESS.sample(seed)
        keys = PROXYLESS.op_keys(arch)
        by_hand = sum(published[k]["mean"] for k in keys)
        assert sum(table[k].median_ms for k in keys) == pytest.approx(by_hand, rel=1e-12)
        assert sum(table[k].mean_ms for k in keys) == pytest.approx(by_hand, rel=1e-12)

    again = _import_lut(session, text)
    assert (again.summary.stored, again.summary.already_stored) == (0, 70)
    assert not again.summary.device_created
    assert _rows(session)[0] == 70


BAD_KEY = "expanded_conv-input:9x9x8-output:9x9x8-expand:3-kernel:3-stride:1-idskip:1"


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("  mean: .nan", "not finite"),
        ("  mean: .inf", "not finite"),
        ("  mean: -1.5", "must be positive"),
        ("  mean: 0", "must be positive"),
        ("  mean: fast", "not a number"),
        ("  count: 3", "'mean'"),
        ("  mean: 1.0\n  var: -2", "var"),
        ("  mean: 1.0\n  count: 0", "count"),
    ],
)
def test_a_bad_entry_names_its_key_and_nothing_is_written(
    session: Session, entry: str, problem: str
) -> None:
    text = LUT_FILE.read_text() + f"{BAD_KEY}:\n{entry}\n"
    with pytest.raises(ValidationError, match=problem) as caught:
        _import_lut(session, text)
    assert BAD_KEY in str(caught.value)
    assert _rows(session) == (0, 0, 0)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("Conv-input:224x224x3-output:112x112x32: [unclosed\n", "not valid YAML"),
        ("- just\n- a list\n", "mapping"),
        ("", "mapping"),
        ("not-a-key:\n  mean: 1.0\n", "'not-a-key': not an op key"),
    ],
)
def test_malformed_yaml_is_refused(session: Session, text: str, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        _import_lut(session, text)
    assert _rows(session) == (0, 0, 0)


def test_a_table_for_another_space_instance_is_refused(session: Session) -> None:
    with pytest.raises(ValidationError, match="none of the"):
        import_lut(
            session=session,
            text=LUT_FILE.read_text(),
            device_name="pixel1",
            space=get_space("proxyless", 160),
        )
    assert _rows(session) == (0, 0, 0)


def _csv(*rows: str, header: str = "arch,latency_ms,batch") -> str:
    return "\n".join([header, *rows]) + "\n"


def _cifar_arch(seed: int) -> str:
    return CIFAR.format(CIFAR.sample(seed))


def _import_csv(session: Session, text: str, batch: int = 1) -> CsvImport:
    return import_measurement_csv(
        session=session,
        text=text,
        device_name="edgegpu",
        space=CIFAR,
        source_name="hw-nas-bench",
        default_batch=batch,
    )


def test_fbnet_cifar100_csv_rows_become_network_measurements(session: Session) -> None:
    assert CIFAR.ref == "fbnet-cifar100-r32-w1-c100" and len(CIFAR.layers) == 22
    text = _csv(f"{_cifar_arch(0)},3.5,", f"{_cifar_arch(1)},4.25,8")
    result = _import_csv(session, text, batch=2)
    assert (result.rows, result.summary.stored, result.batch_sizes) == (2, 2, [2, 8])
    stored = {
        m.subject: m
        for m in measurements.list_measurements(session=session, subject_kind="network")
    }
    first = stored[_cifar_arch(0)]
    assert first.median_ms == 3.5 and first.batch_size == 2
    assert first.input_shape == [2, 3, 32, 32] and first.space_ref == CIFAR.ref
    assert first.environment["source"]["name"] == "hw-nas-bench"
    assert first.environment["row"] == 1
    assert stored[_cifar_arch(1)].batch_size == 8

    again = _import_csv(session, text, batch=2)
    assert (again.summary.stored, again.summary.already_stored) == (0, 2)
    assert _rows(session) == (2, 1, 1)


@pytest.mark.parametrize(
    ("rows", "named"),
    [
        (["{a0},3.5,", "{a1_bad_token},4.0,"], r"row 2 \(line 3\): arch: .*unknown op token"),
        (["{a0},3.5,", "k3_e1 k3_e1,4.0,"], r"row 2 \(line 3\): arch: .*2 layers"),
        (["{a0},nan,"], r"row 1 \(line 2\): latency .* not finite"),
        (["{a0},-1,"], r"row 1 \(line 2\): latency .* must be positive"),
        (["{a0},fast,"], r"row 1 \(line 2\): latency_ms 'fast' is not a number"),
        (["{a0},3.5,0"], r"row 1 \(line 2\): batch 0 must be positive"),
        (["{a0},3.5,1.5"], r"row 1 \(line 2\): batch '1.5' is not an integer"),
        (["{a0},3.5,1,extra"], r"row 1 \(line 2\): more fields"),
        ([], "no data rows"),
    ],
)
def test_any_bad_csv_row_is_named_and_nothing_is_written(
    session: Session, rows: list[str], named: str
) -> None:
    bad = _cifar_arch(1).replace("k", "q", 1)
    filled = [r.format(a0=_cifar_arch(0), a1_bad_token=bad) for r in rows]
    with pytest.raises(ValidationError, match=named):
        _import_csv(session, _csv(*filled))
    assert _rows(session) == (0, 0, 0)


def test_a_missing_column_is_named(session: Session) -> None:
    with pytest.raises(ValidationError, match=r"lacks column.*latency_ms"):
        _import_csv(session, _csv(f"{_cifar_arch(0)}", header="arch"))
    assert _rows(session) == (0, 0, 0)


def test_space_options_accept_a_family_name_or_an_agreeing_ref() -> None:
    assert resolve_space("proxyless", 224).ref == "proxyless-r224-w1-c1000"
    assert resolve_space("proxyless", width_mult=0.5).ref == "proxyless-r224-w0.5-c1000"
    assert resolve_space("proxyless-r160-w1-c1000", 160, 1.0).resolution == 160
    with pytest.raises(ValueError, match="resolution=224"):
        resolve_space("proxyless-r160-w1-c1000", 224)
    with pytest.raises(ValueError, match="unknown space"):
        resolve_space("resnet")
    assert math.isclose(resolve_space("fbnet-cifar100").resolution, 32)
