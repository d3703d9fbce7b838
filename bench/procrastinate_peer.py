"""A peer of the tiny-job benchmark: procrastinate on a private PostgreSQL, its own workers.

The driver builds a `ProcrastinatePeer` to enqueue; `procrastinate --app=procrastinate_peer.app
worker` runs the job with the app this module builds from the environment:

  BENCH_STATE    directory holding marks.log
  BENCH_PG_HOST  the server's socket directory
  BENCH_PG_PORT  its port

procrastinate has no result store, so each step's result is a row in a `steps` table, read
first (memo) and inserted with an autocommit INSERT: one durable commit per step.
"""
import json
import os

import psycopg
from procrastinate import App, PsycopgConnector

from timing_marks import MarksWriter

DATABASE = "bench"
STEPS_TABLE = "CREATE TABLE steps (event bigint, step int, result jsonb, PRIMARY KEY (event, step))"


def connection_arguments(socket_dir, port):
    return {"host": socket_dir, "port": port, "user": "postgres", "dbname": DATABASE}


def make_app(socket_dir, port):
    return App(connector=PsycopgConnector(kwargs=connection_arguments(socket_dir, port)))


def define_tiny_job(app, marks):
    @app.task(name="tiny_job")
    async def tiny_job(event):
        marks.append("S1", event)
        for step in (1, 2, 3):
            memo = await app.connector.execute_query_one_async(
                "SELECT count(*) AS n FROM steps WHERE event = %(event)s AND step = %(step)s",
                event=event, step=step)
            if memo["n"] == 0:
                await app.connector.execute_query_async(
                    "INSERT INTO steps (event, step, result) VALUES (%(event)s, %(step)s, %(result)s)",
                    event=event, step=step, result=json.dumps({"event": event, "step": step, "ok": True}))
        marks.append("D", event)

    return tiny_job


class ProcrastinatePeer:
    """The producer's side: an open app that defers the tiny job."""

    def __init__(self, state, socket_dir, port):
        self.connection_arguments = connection_arguments(socket_dir, port)
        self.app = make_app(socket_dir, port)
        self.tiny_job = define_tiny_job(self.app, MarksWriter(os.path.join(state, "marks.log")))
        self.app.open()

    def create_schema(self):
        self.app.schema_manager.apply_schema()
        with psycopg.connect(**self.connection_arguments, autocommit=True) as connection:
            connection.execute(STEPS_TABLE)

    def enqueue(self, event):
        self.tiny_job.defer(event=event)

    def close(self):
        self.app.close()


# What `procrastinate --app=procrastinate_peer.app worker` loads.
if "BENCH_PG_PORT" in os.environ:
    app = make_app(os.environ["BENCH_PG_HOST"], int(os.environ["BENCH_PG_PORT"]))
    define_tiny_job(app, MarksWriter(os.path.join(os.environ["BENCH_STATE"], "marks.log")))
