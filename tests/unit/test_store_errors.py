"""How store failures reach the command line: as StoreError / StoreConflict naming what was being
done, except a Ctrl-C that the driver's clean-up turned into a database error."""
import pytest
from sqlalchemy.exc import IntegrityError, ProgrammingError

from hub.errors import StoreConflict, StoreError
from hub.store.repository import translated_errors


def test_a_database_error_names_what_was_being_done():
    with pytest.raises(StoreError, match="^reading things: "):
        with translated_errors("reading things"):
            raise ProgrammingError("SELECT 1", {}, Exception("syntax error"))
    with pytest.raises(StoreConflict, match="^writing things: "):
        with translated_errors("writing things"):
            raise IntegrityError("INSERT", {}, Exception("duplicate key"))


def test_a_ctrl_c_whose_rollback_failed_stays_a_ctrl_c():
    # As psycopg does: the interrupt lands inside a statement, and the rollback on the way out
    # raises "can't change 'autocommit' now: connection in transaction status ACTIVE".
    with pytest.raises(KeyboardInterrupt):
        with translated_errors("re-encrypting patients"):
            try:
                raise KeyboardInterrupt
            except KeyboardInterrupt:
                raise ProgrammingError("ROLLBACK", {}, Exception("can't change 'autocommit' now"))
