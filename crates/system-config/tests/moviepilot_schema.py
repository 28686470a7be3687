"""MoviePilot's side of the 2.2.0 compatibility test (tests/moviepilot_compat.rs).

Models `systemconfig` the way MoviePilot does with SQLAlchemy: before its 2.2.0 migration
the id column is `Integer, Sequence('id'), primary_key=True, index=True` (one sequence named
`id`, no column default; SQLAlchemy puts `nextval('id')` into each INSERT); from 2.2.0 on,
PostgreSQL ids are `Identity(start=1, cycle=True)` (SQLAlchemy omits `id`).

Usage: moviepilot_schema.py URL create            -- Base.metadata.create_all, pre-2.2 model
       moviepilot_schema.py URL insert-pre22 KEY..  -- ORM inserts through the pre-2.2 model
       moviepilot_schema.py URL insert-post22 KEY.. -- ORM inserts through the 2.2+ model
Prints the ids of the inserted rows, one a line.
"""
import sys

from sqlalchemy import JSON, Column, Identity, Integer, Sequence, String, create_engine
from sqlalchemy.orm import Session, declarative_base


def models(identity):
    base = declarative_base()
    id_args = (Identity(start=1, cycle=True),) if identity else (Sequence("id"),)

    class SystemConfig(base):
        __tablename__ = "systemconfig"
        id = Column(Integer, *id_args, primary_key=True, index=True)
        key = Column(String, index=True)
        value = Column(JSON)

    class Subscribe(base):
        # Another MoviePilot table sharing the `id` sequence.
        __tablename__ = "subscribe"
        id = Column(Integer, *id_args, primary_key=True, index=True)
        name = Column(String, nullable=False, index=True)

    return base, SystemConfig, Subscribe


def main():
    url, command, keys = sys.argv[1], sys.argv[2], sys.argv[3:]
    engine = create_engine(url)
    base, config, subscribe = models(identity=(command == "insert-post22"))
    if command == "create":
        base.metadata.create_all(bind=engine)
        with Session(engine) as db:
            db.add(subscribe(name="Dune"))
            db.add(config(key="Downloaders", value=[{"name": "qb", "type": "qbittorrent"}]))
            db.add(config(key="UserCustomCSS", value="body { color: red }"))
            db.commit()
        return
    if command not in ("insert-pre22", "insert-post22"):
        sys.exit(f"unknown command {command}")
    with Session(engine) as db:
        rows = [config(key=key, value={"from": "moviepilot", "key": key}) for key in keys]
        db.add_all(rows)
        db.add(subscribe(name="Arrival"))
        db.commit()
        for row in rows:
            print(row.id)


if __name__ == "__main__":
    main()
