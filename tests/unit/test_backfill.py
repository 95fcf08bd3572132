"""``detector backfill``'s CSV manifest: one row per key, whatever the key holds."""

from __future__ import annotations

import csv
import io

from aws_lambda_powertools.utilities.data_classes.s3_batch_operation_event import (
    S3BatchOperationTask,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from detector.commands.backfill import manifest_csv, parse_prefix

# S3 keys: Unicode text up to 1024 UTF-8 bytes; commas, quotes, line breaks and "+" included.
AWKWARD = st.sampled_from([",", '"', "\n", "\r", "+", " ", "%", "/", "\x00", "é", "🐕"])
PIECES = st.one_of(AWKWARD, st.just("%2B"), st.text(st.characters(exclude_categories=["Cs"])))
KEYS = st.lists(
    st.lists(PIECES, min_size=1, max_size=12).map("".join).filter(bool), min_size=1, max_size=20
)


@settings(deadline=None)  # the first example pays for manifest_csv's lazy imports
@given(KEYS)
def test_each_key_is_one_csv_row_that_batch_operations_hands_back_as_the_key(
    keys: list[str],
) -> None:
    # GIVEN the manifest of any keys
    manifest = manifest_csv("photo-archive", keys).decode("ascii")

    # WHEN a CSV reader splits it, as Batch Operations does, and the task reaches the handler
    rows = list(csv.reader(io.StringIO(manifest, newline="")))

    # THEN one row per key, two fields each, and the handler's decoding gives the key back
    assert [row[0] for row in rows] == ["photo-archive"] * len(keys)
    assert all(len(row) == 2 for row in rows)
    decoded = [S3BatchOperationTask({"s3Key": row[1]}).s3_key for row in rows]
    assert decoded == keys


def test_the_documented_example_is_what_we_write() -> None:
    # AWS's own example row (S3 User Guide, "Specifying a manifest")
    assert manifest_csv("Examplebucket", ["object key with spaces"]) == (
        b"Examplebucket,object%20key%20with%20spaces\n"
    )


def test_a_prefix_may_be_a_whole_bucket() -> None:
    assert parse_prefix("s3://archive") == ("archive", "")
    assert parse_prefix("s3://archive/2019/a b/") == ("archive", "2019/a b/")
