"""Both log formats: one line per record, context as fields, the whole traceback kept."""

from __future__ import annotations

import json
import logging
import sys

from exporter.cli.logs import JsonFormatter, LogfmtFormatter


def record_with_error() -> logging.LogRecord:
    try:
        {}["missing"]  # a KeyError with a real traceback
    except KeyError:
        exc_info = sys.exc_info()
    record = logging.LogRecord(
        "exporter.render.store", logging.ERROR, __file__, 1, "collector %s failed", ("x",),
        exc_info,
    )  # fmt: skip
    record.collector = "stats"
    record.object = 'we"ird\nid'
    return record


def test_logfmt_is_one_line_with_context_and_the_whole_traceback() -> None:
    line = LogfmtFormatter().format(record_with_error())
    assert "\n" not in line
    assert " level=error " in line
    assert ' msg="collector x failed"' in line
    assert " collector=stats" in line
    assert ' object="we\\"ird\\nid"' in line
    assert "Traceback (most recent call last):" in line
    assert "test_logs.py" in line  # the frame, not just the last line
    assert "KeyError: 'missing'" in line


def test_json_has_the_same_fields() -> None:
    doc = json.loads(JsonFormatter().format(record_with_error()))
    assert doc["collector"] == "stats"
    assert doc["object"] == 'we"ird\nid'
    assert doc["msg"] == "collector x failed"
    assert "Traceback" in doc["err"]
    assert doc["err"].rstrip().endswith("KeyError: 'missing'")


def test_a_plain_record_has_no_extra_fields() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", (), None)
    assert set(json.loads(JsonFormatter().format(record))) == {"ts", "level", "logger", "msg"}
