"""switchboard_testing.dashboards fills in a panel query as Grafana would before sending
it, and refuses to guess a variable it was given no value for."""

from __future__ import annotations

import pytest
from switchboard_testing import dashboards


def test_template_variables_and_grafana_built_ins_are_filled_in() -> None:
    expr = 'sum by (name) (rate(x_count{server=~"$server", name=~"${name}"}[$__rate_interval]))'
    assert dashboards.substitute(expr, {"server": "s1", "name": "add"}) == (
        'sum by (name) (rate(x_count{server=~"s1", name=~"add"}[1m]))'
    )


def test_a_variable_without_a_value_is_an_error_not_left_in_the_query() -> None:
    with pytest.raises(KeyError, match=r"\$server"):
        dashboards.substitute('x{server=~"$server"}', {})


def test_label_values_variables_become_the_query_that_finds_their_values() -> None:
    queries = {q.panel: q.expr for q in dashboards.variable_queries() if q.dashboard == "servers-and-tools"}
    assert queries["variable server"] == "group by (server) (switchboard_mcp_call_duration_seconds_count)"
    assert queries["variable name"] == (
        'group by (name) (switchboard_mcp_call_duration_seconds_count{server=~"$server"})'
    )
