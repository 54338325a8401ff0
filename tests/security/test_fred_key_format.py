"""A malformed FRED key is refused before any request and never echoed; every encoding of
the key (escaped, percent-encoded, JSON, any case) is scrubbed from errors and logs."""

from __future__ import annotations

import logging
import traceback

import pytest

from riskalloc.cli import main as cli_main
from riskalloc.errors import ConfigError, DownloadError
from riskalloc.sources import FredSource
from riskalloc.sources.fred import scrub_secret

GOOD = "abcdef0123456789abcdef0123456789"


@pytest.fixture()
def fred_server(kit):
    """The loopback FRED fake accepting GOOD."""
    with kit.FakeFred(key=GOOD) as server:
        yield server


def forms(key: str) -> list[str]:
    """The ways a key shows up in text: raw, escaped repr, stripped, upper-cased."""
    return [key, repr(key)[1:-1], key.strip(), key.upper(), key.replace("\t", "\\t")]


@pytest.mark.parametrize(
    "bad",
    [
        GOOD[:10] + "\t" + GOOD[11:],  # the probe's case: http.client echoed it escaped
        GOOD[:16] + "\n" + GOOD[16:31],
        GOOD[:31],  # one character short
        GOOD + "0",
        '"' + GOOD[:30] + '"',
        GOOD[:31] + "é",
        GOOD[:12] + "&x=" + GOOD[15:],  # URL injection
    ],
)
def test_malformed_key_is_refused_without_echoing_it(fred_server, caplog, bad):
    caplog.set_level(logging.DEBUG)
    src = FredSource(api_key=bad, root_url=fred_server.url, max_retries=0, sleep=lambda _s: 0)
    with pytest.raises(ConfigError, match=r"API key .* is malformed: a FRED key is 32") as info:
        src.fetch_macro(["DGS10"], "2020-01-01", "2020-03-17")
    text = "".join(traceback.format_exception(info.value))
    for form in forms(bad):
        assert form not in text and form not in caplog.text
    assert GOOD[:10] not in text  # not even a prefix
    assert fred_server.requests == []  # refused before any request


def test_key_from_env_with_a_trailing_newline_is_accepted(fred_server, monkeypatch):
    """`export FRED_API_KEY=$(cat key.txt)` style whitespace around the key is harmless."""
    monkeypatch.setenv("FRED_API_KEY", f" {GOOD}\n")
    src = FredSource(root_url=fred_server.url, max_retries=0, sleep=lambda _s: 0)
    out = src.fetch_macro(["DGS10"], "2020-01-01", "2020-03-17")
    assert len(out) == 4 and fred_server.requests[0]["api_key"] == GOOD


def test_cli_refuses_a_malformed_env_key_in_one_line(tmp_path, monkeypatch, capsys):
    bad = GOOD[:10] + "\t" + GOOD[11:]
    monkeypatch.setenv("FRED_API_KEY", bad)
    from riskalloc import sources

    monkeypatch.setitem(sources.SOURCES, "yahoo", sources.SampleSource)  # no network
    code = cli_main(["--db", str(tmp_path / "w" / "r.duckdb"), "ingest", "--source", "live"])
    out, err = capsys.readouterr()
    assert code == 2
    assert err.count("\n") == 1 and "API key (FRED_API_KEY or api_key) is malformed" in err
    for form in forms(bad):
        assert form not in err and form not in out
    assert not (tmp_path / "w" / "parquet").exists()  # nothing written


def test_key_echoed_upper_case_by_fred_is_scrubbed(fred_server, caplog):
    caplog.set_level(logging.DEBUG)
    fred_server.fail("echo_key_upper", times=1)
    src = FredSource(api_key=GOOD, root_url=fred_server.url, max_retries=0, sleep=lambda _s: 0)
    with pytest.raises(DownloadError, match=r"API_KEY=\*\*\* is not registered") as info:
        src.fetch_macro(["DGS10"], "2020-01-01", "2020-03-17")
    text = "".join(traceback.format_exception(info.value))
    assert GOOD.upper() not in text and GOOD not in text and GOOD not in caplog.text


def test_malformed_series_id_is_refused_before_the_request(fred_server):
    """Series ids go into the URL beside the key: a newline there made http.client echo it."""
    src = FredSource(api_key=GOOD, root_url=fred_server.url, max_retries=0, sleep=lambda _s: 0)
    with pytest.raises(ConfigError, match=r"malformed series ids \['DGS\\n10'\]") as info:
        src.fetch_macro(["DGS\n10"], "2020-01-01", "2020-03-17")
    assert GOOD not in str(info.value) and fred_server.requests == []


@pytest.mark.parametrize(
    "secret", ["abc\tdef/ghi+jkl mno&pq\n", "Key-With:Colons;And=Equals", "ÄÖÜ key"]
)
def test_scrub_covers_every_encoding(secret):
    from json import dumps
    from urllib.parse import quote, quote_plus

    encodings = [
        secret,
        repr(secret)[1:-1],
        dumps(secret)[1:-1],
        quote(secret, safe=""),
        quote_plus(secret),
        quote(quote(secret, safe=""), safe=""),
        secret.upper(),
        quote(secret, safe="").lower(),
    ]
    text = " | ".join(f"before {e} after" for e in encodings)
    scrubbed = scrub_secret(text, secret)
    assert scrubbed.count("***") == len(encodings), scrubbed
    for e in encodings:
        assert e not in scrubbed
