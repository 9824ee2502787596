"""Input units (DESIGN, "Input units"): a percent is a fraction from 0% to 100% unless
its declaration widens it, and a value that looks like a unit mistake is refused on
every path where it was seen becoming a tier (issue 23): the Python API, gRPC on a real
server, `tierline classify` on a table, `tierline check` on the rules themselves."""

from __future__ import annotations

import csv
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.rpc import code_pb2, error_details_pb2
from grpc_status import rpc_status

from engine import InputError, load_ruleset
from server.app import Running, create_server
from server.client import account_message
from server.pb import pb, pb_grpc
from server.settings import Settings
from tests.conftest import ACCOUNT, ROOT, RULES, SHARED_DATA, tierline

SYNTHESIS = RULES / "synthesis.tiers"
EXPECTED = "expected a percentage as a fraction (0.042 is 4.2%) from 0% to 100%"
FOUR_POINT_TWO = (
    f"engagement_rate: {EXPECTED}, got 4.2; 4.2 is 420%; a percentage is a fraction: 4.2% is 0.042"
)


# ------------------------------------------------------------------ Python API


def test_a_rate_in_percent_units_is_refused_with_what_was_meant() -> None:
    ruleset = load_ruleset(SYNTHESIS)
    with pytest.raises(InputError) as caught:
        ruleset.classify({**ACCOUNT, "engagement_rate": 4.2})
    assert str(caught.value) == f"invalid account: {FOUR_POINT_TWO}"
    [problem] = caught.value.problems
    assert (problem.field, problem.given) == ("engagement_rate", "4.2")
    assert problem.hint == "4.2 is 420%; a percentage is a fraction: 4.2% is 0.042"


def test_classify_many_refuses_each_unit_mistake_in_its_place() -> None:
    ruleset = load_ruleset(SYNTHESIS)
    rates = [0.042, 4.2, 1.0, 637_000, 0.0, -0.01]
    got = ruleset.classify_many([{**ACCOUNT, "engagement_rate": r} for r in rates])
    assert [type(g).__name__ for g in got] == [
        "Decision", "InputError", "Decision", "InputError", "Decision", "InputError",
    ]  # fmt: skip
    assert str(got[1]) == f"invalid account: {FOUR_POINT_TWO}"
    assert "is this a count, not a rate?" in str(got[3])
    assert str(got[5]).endswith("got -0.01; -0.01 is -1%")


def test_a_percent_input_can_be_widened_by_its_declaration() -> None:
    text = SYNTHESIS.read_text().replace(
        "input engagement_rate: percent ", "input engagement_rate: percent at most 1000% "
    )
    ruleset = load_ruleset(text=text, name="widened")
    assert ruleset.classify({**ACCOUNT, "engagement_rate": 4.2}).tier == "micro"
    with pytest.raises(InputError, match=re.escape("at most 1000% (and 0% or more), got 10.5")):
        ruleset.classify({**ACCOUNT, "engagement_rate": 10.5})


# ------------------------------------------------------------------------ gRPC


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    root = tmp_path_factory.mktemp("units")
    shutil.copytree(RULES, root / "rules")
    settings = Settings(
        rules=root / "rules",
        port=0,
        decision_log=str(root / "decisions.log"),
        metrics_port=0,
        watch=False,
        mask_fields=["fake_follower_ratio"],
    )
    running = create_server(settings)
    yield running
    running.stop(grace=1)


def _refused(stub: pb_grpc.ClassifierStub, values: dict[str, object]) -> grpc.RpcError:
    request = pb.ClassifyRequest(account=account_message(values, "acct-1"))
    with pytest.raises(grpc.RpcError) as caught:
        stub.Classify(request, timeout=10)
    error = caught.value
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
    return error


def test_grpc_refuses_a_rate_in_percent_units_naming_the_field(
    stub: pb_grpc.ClassifierStub,
) -> None:
    error = _refused(stub, {**ACCOUNT, "engagement_rate": 4.2})
    assert error.details() == f"invalid account: {FOUR_POINT_TWO}"
    status = rpc_status.from_call(error)
    assert status is not None and status.code == code_pb2.INVALID_ARGUMENT
    bad = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad)
    [violation] = bad.field_violations
    assert (violation.field, violation.description) == ("engagement_rate", FOUR_POINT_TWO)


def test_grpc_refuses_a_whole_number_for_a_percent(stub: pb_grpc.ClassifierStub) -> None:
    """An int_value 4 (four percent sent as a whole number) is 400%."""
    error = _refused(stub, {**ACCOUNT, "engagement_rate": 4})
    assert "got 4; 4 is 400%; a percentage is a fraction: 4% is 0.04" in error.details()


def test_grpc_batch_refuses_each_unit_mistake_in_its_place(stub: pb_grpc.ClassifierStub) -> None:
    accounts = [
        account_message({**ACCOUNT, "engagement_rate": 0.042}, "a"),
        account_message({**ACCOUNT, "engagement_rate": 637_000.0}, "b"),
        account_message({**ACCOUNT, "followers": "45k"}, "c"),
        account_message({**ACCOUNT, "followers": 0.5}, "d"),
    ]
    results = stub.ClassifyBatch(pb.ClassifyBatchRequest(accounts=accounts), timeout=10).results
    assert [r.WhichOneof("result") for r in results] == ["decision", "error", "error", "error"]
    assert results[0].decision.tier == "micro"
    assert all(r.error.code == code_pb2.INVALID_ARGUMENT for r in results[1:])
    assert [r.error.field_violations[0].field for r in results[1:]] == [
        "engagement_rate", "followers", "followers",
    ]  # fmt: skip
    assert "637000 is 63700000%" in results[1].error.message
    assert results[2].error.message == (  # a count as abbreviated text: kept an error
        'invalid account: followers: expected a count (a whole number, 0 or more), got "45k" '
        "(a text); send it as a number: 45000"
    )
    assert results[3].error.message == (  # a count as a fraction
        "invalid account: followers: expected a count (a whole number, 0 or more), got 0.5"
    )


def test_grpc_never_echoes_a_masked_value_in_a_hint(stub: pb_grpc.ClassifierStub) -> None:
    error = _refused(stub, {**ACCOUNT, "fake_follower_ratio": 12.75})
    assert "12.75" not in error.details() and "1275" not in error.details()
    assert "fake_follower_ratio: expected" in error.details()
    assert "got a number (masked)" in error.details()


# ------------------------------------------------------------------ the tables


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_classify_refuses_every_row_of_counts_mapped_to_a_percent(tmp_path: Path) -> None:
    """Average engagement *counts* mapped to engagement_rate: every row gets the error
    (with the hint), none a tier or a label, and the run exits 1."""
    source = tmp_path / "export.csv"
    source.write_text(
        "id,followers,avg_engagement,topics,platform\n"
        "a,45k,637K,fashion,instagram\n"
        'b,"12,000",1.2M,tech,tiktok\n'
        "c,5000,830,,youtube\n"
    )
    out = tmp_path / "tiers.csv"
    done = tierline("classify", str(SYNTHESIS), str(source), "-o", str(out),
                    "--map", "engagement_rate=avg_engagement")  # fmt: skip
    assert done.returncode == 1, done.stderr
    got = {row["id"]: row for row in _rows(out)}
    assert [(r["tier"], r["labels"], r["rule"]) for r in got.values()] == [("", "", "")] * 3
    assert got["a"]["error"] == (
        f"invalid account: engagement_rate: {EXPECTED}, got 637000; 637000 is 63700000%; "
        "a percentage is a fraction (0.042 is 4.2%): is this a count, not a rate?"
    )
    assert "got 1200000; 1200000 is 120000000%" in got["b"]["error"]
    assert "got 830; 830 is 83000%" in got["c"]["error"]
    assert "3 rows" in done.stderr and "3 with errors" in done.stderr


def test_classify_reads_percent_cells_in_their_units(tmp_path: Path) -> None:
    """`4.2%` in a cell is 0.042 and classifies; a bare `4.2` is 420% and is refused."""
    source = tmp_path / "export.csv"
    source.write_text(
        "id,followers,engagement_rate,topics,platform\n"
        "a,45k,4.2%,fashion,instagram\n"
        "b,45k,4.2,fashion,instagram\n"
    )
    out = tmp_path / "tiers.csv"
    done = tierline("classify", str(SYNTHESIS), str(source), "-o", str(out))
    assert done.returncode == 1, done.stderr
    got = {row["id"]: row for row in _rows(out)}
    assert (got["a"]["tier"], got["a"]["error"]) == ("micro", "")
    assert (got["b"]["tier"], got["b"]["error"]) == ("", f"invalid account: {FOUR_POINT_TWO}")


# The shared data sit beside the repository, or two levels up from a git worktree.
DATA = next((d for d in (SHARED_DATA, ROOT.parent.parent / "shared" / "data" / "influencers")
             if d.exists()), SHARED_DATA)  # fmt: skip
SCRAPED = DATA / "social_media_influencers_2022" / "social media influencers - instagram.csv"


@pytest.mark.skipif(not SCRAPED.exists(), reason="the shared data set is absent")
def test_the_scraped_instagram_engagement_counts_are_refused_not_authentic(
    tmp_path: Path,
) -> None:
    """The issue's case: 1,000 Instagram rows whose average engagement (a count, `637K`)
    was mapped to a percent input all got the label `authentic`. Now each is refused."""
    rules = tmp_path / "agency.tiers"
    rules.write_text(
        "ruleset agency\ninput followers: count\ninput engagement_rate: percent\n"
        "tier mega when followers at least 1M\ntier micro when followers between 10k and 100k\n"
        "otherwise none\nlabel authentic when engagement_rate at least 3%\n"
    )
    out = tmp_path / "out.csv"
    done = tierline("classify", str(rules), str(SCRAPED), "-o", str(out),
                    "--map", "followers=Followers", "--map", "engagement_rate=Engagement avg",
                    "--id", "instagram name")  # fmt: skip
    assert done.returncode == 1, done.stderr
    got = _rows(out)
    assert len(got) == 1000
    assert not [row for row in got if "authentic" in row["labels"] or row["tier"]]
    assert all("engagement_rate: expected a percentage" in row["error"] for row in got)
    assert sum("is this a count, not a rate?" in row["error"] for row in got) > 900


# ------------------------------------------------------------------- the rules


def test_check_reports_a_bound_beyond_a_percents_range(tmp_path: Path) -> None:
    rules = tmp_path / "viral.tiers"
    rules.write_text(
        "ruleset viral\ninput engagement_rate: percent\n"
        "tier viral when engagement_rate at least 150%\notherwise none\n"
    )
    done = tierline("check", str(rules))
    assert done.returncode == 1
    assert "[out-of-range]" in done.stdout + done.stderr
    assert (
        "'engagement_rate' allows only values from 0% to 100%, so 150% is out of its range "
        "and this comparison is never true" in done.stdout + done.stderr
    )
    widened = tmp_path / "widened.tiers"
    widened.write_text(rules.read_text().replace(": percent", ": percent at most 1000%"))
    done = tierline("check", str(widened))
    assert done.returncode == 0, done.stdout + done.stderr
