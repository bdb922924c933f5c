"""The rule registry: names, switching off, and the record of which rules changed an answer (toy sentences)."""

from __future__ import annotations

import pytest

from assistant.config import ConfigError, load_settings
from assistant.rules import RULES, Rules, UnknownRule, check_names
from assistant.rules.widen import widened_span


def test_every_rule_has_a_family_and_a_contract() -> None:
    families = {"evidence", "reply", "shape", "widen", "decide"}
    for name, (family, contract) in RULES.items():
        assert name == name.lower() and " " not in name
        assert family in families and contract


def test_a_switched_off_rule_neither_acts_nor_is_recorded() -> None:
    rules = Rules(frozenset({"widen_date"}))
    assert rules.apply("widen_date", lambda: (0, 5)) is None
    assert rules.transform("drop_open_aside", str.upper, "ab") == "AB"
    assert rules.transform("drop_open_aside", str.lower, "ab") == "ab"  # no change: not recorded
    assert rules.check("names_none", lambda: False) is False
    assert rules.fired == ["drop_open_aside"]


def test_an_unknown_rule_name_is_refused_with_the_names() -> None:
    with pytest.raises(UnknownRule, match="widen_date"):
        check_names(["widen_dates"])
    with pytest.raises(UnknownRule):
        Rules().on("no_such_rule")


def test_the_setting_lists_rules_by_name_and_refuses_unknown_ones() -> None:
    settings = load_settings(overrides={"disabled_rules": "widen_date, drop_open_aside"}, environ={})
    assert settings.disabled_rule_set == {"widen_date", "drop_open_aside"}
    with pytest.raises(ConfigError, match="disabled_rules"):
        load_settings(overrides={"disabled_rules": "widen_dates"}, environ={})


def test_widening_steps_follow_their_switches() -> None:
    text = "The fair opened on 25 May 1521 in the town."
    start = text.index("1521")
    question = "When did the fair open?"
    assert text[slice(*widened_span(text, start, start + 4, question))] == "25 May 1521"
    rules = Rules(frozenset({"widen_date"}))
    assert text[slice(*widened_span(text, start, start + 4, question, rules))] == "1521"
    recorded = Rules()
    widened_span(text, start, start + 4, question, recorded)
    assert recorded.fired == ["widen_date"]


def test_config_command_prints_the_settings_and_the_rules(capsys: pytest.CaptureFixture[str]) -> None:
    from assistant.cli import main

    assert main(["config", "--mode", "fast"]) == 0
    printed = capsys.readouterr().out
    assert 'mode = "fast"' in printed and "max_llm_calls = 2" in printed
    assert main(["config", "--rules"]) == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in RULES)
