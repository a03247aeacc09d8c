"""The database system check: a warning when PostgreSQL's autovacuum is off."""

import pytest
from django.core import checks
from django.core.management import call_command
from django.db import connection

from governance.checks import AUTOVACUUM_OFF, autovacuum_check, autovacuum_messages


@pytest.mark.parametrize("setting", ["off", "OFF", "false", "0"])
def test_autovacuum_off_is_a_warning(setting):
    messages = autovacuum_messages(setting)

    assert [(type(message), message.id, message.msg) for message in messages] == [
        (checks.Warning, AUTOVACUUM_OFF, "PostgreSQL's autovacuum is off.")
    ]
    assert "governance_auditpending" in messages[0].hint


@pytest.mark.parametrize("setting", ["on", "true", None])
def test_autovacuum_on_is_fine(setting):
    assert autovacuum_messages(setting) == []


@pytest.mark.django_db
def test_the_check_reads_the_server_setting():
    with connection.cursor() as cursor:
        cursor.execute("SHOW autovacuum")
        (setting,) = cursor.fetchone()

    found = [message.id for message in autovacuum_check(databases=["default"])]

    assert found == ([AUTOVACUUM_OFF] if setting == "off" else [])
    assert autovacuum_check(databases=None) == []  # without --database, database checks do not run


@pytest.mark.django_db
def test_check_command_with_the_database_names_the_warning(capsys):
    with connection.cursor() as cursor:
        cursor.execute("SHOW autovacuum")
        (setting,) = cursor.fetchone()

    call_command("check", "--database", "default")

    output = capsys.readouterr()
    assert (AUTOVACUUM_OFF in output.out + output.err) == (setting == "off")
