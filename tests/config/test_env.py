import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_list


def test_it_reads_booleans_and_refuses_typos(monkeypatch):
    monkeypatch.setenv("FLAG", "yes")
    assert env_bool("FLAG") is True
    monkeypatch.setenv("FLAG", "0")
    assert env_bool("FLAG", True) is False
    monkeypatch.setenv("FLAG", "ture")
    with pytest.raises(ImproperlyConfigured, match="FLAG"):
        env_bool("FLAG")


def test_it_reads_integers_with_a_minimum(monkeypatch):
    monkeypatch.delenv("N", raising=False)
    assert env_int("N", 7) == 7
    monkeypatch.setenv("N", "12")
    assert env_int("N", 7, minimum=1) == 12
    monkeypatch.setenv("N", "twelve")
    with pytest.raises(ImproperlyConfigured, match="integer"):
        env_int("N", 7)
    monkeypatch.setenv("N", "0")
    with pytest.raises(ImproperlyConfigured, match="at least 1"):
        env_int("N", 7, minimum=1)


def test_it_splits_lists(monkeypatch):
    monkeypatch.setenv("HOSTS", " a.example, b.example ,,")
    assert env_list("HOSTS", []) == ["a.example", "b.example"]
