"""SQLite persistence of the reference server, through aiosqlite, with group commit.

State in memory, SQLite behind it. Conversations (with their offline-notice
marks), agents and settings (``meta``) are read once, at ``Store.open``, and
then kept in memory and written through, so every read a change makes
(assignment decisions, the conversation of a ``customer-typing``) is a lookup in
a dictionary. Only message pages and idempotency keys are read from the database
(keys written but not yet committed are kept in memory until they are).

Every change runs inside ``Store.transaction``. The block runs alone (it holds
``Store.lock``) and changes the in-memory state at once; the statements it
produces are staged and, when the block ends, handed to one writer task that owns
the aiosqlite connection (``writer.py``). The writer takes every transaction waiting,
runs their statements in one SQLite transaction (one ``executemany`` per table and
statement, in order) and commits once; then the transactions of the batch return.
So a transaction is committed when its block exits (a message before its ``POST``
answers and before ``new-message`` is sent), under load many requests share one
commit, and the event loop never waits for the disk: SQLite runs on aiosqlite's
thread. A block that writes nothing still waits for the commits queued before
it, so nothing it saw is lost.

``seq`` is given in memory, from the highest ever stored (read at open), and
batches commit in order, so the committed messages are always a prefix of the
``seq`` order; message pages and ``Messages.last_seq`` show committed messages
only. ``seq`` keeps growing across restarts (``messages.seq`` is also an
``AUTOINCREMENT`` key).

Failures: a block that raises leaves no trace (its in-memory changes are undone,
its statements dropped). A batch that fails to commit is rolled back and every
transaction waiting is written again, each alone: only one whose own statements
fail raises ``CommitError`` (one request never fails another); the in-memory
state is then read again from the database. ``Store.close`` waits for the running block, writes what
is waiting and closes the connection.

Objects returned are snapshots: ``Conversation`` objects are shared (derive
new ones with ``model_copy``), ``AgentRecord`` objects are copies; change
the state only through the store.

The tables are in ``schema.py``.
"""

from .agents import AgentRecord
from .core import Store
from .writer import CommitError

__all__ = ["AgentRecord", "CommitError", "Store"]
