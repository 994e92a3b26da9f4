"""How a statement's driver placeholders become PREPARE's numbered parameters
(studies/services/prepared_statements.py; tests/integration/test_prepared_statements.py
runs them on PostgreSQL)."""

from studies.services.prepared_statements import positional


def test_placeholders_are_numbered_in_order():
    sql = "UPDATE t SET a = %s WHERE id = %s AND b IN (%s, %s)"
    assert positional(sql) == "UPDATE t SET a = $1 WHERE id = $2 AND b IN ($3, $4)"


def test_a_literal_percent_stays_a_percent_and_is_not_a_parameter():
    assert positional("SELECT 'x%%' LIKE %s, 100 %% %s") == "SELECT 'x%' LIKE $1, 100 % $2"


def test_a_statement_without_parameters_is_unchanged():
    assert positional("SELECT 1") == "SELECT 1"
