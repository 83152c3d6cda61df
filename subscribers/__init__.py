"""The store: the only place with SQL. Schema, migrations, engine, and the queries, one module per domain.

Query functions take an open ``AsyncConnection`` so callers decide transaction boundaries: a CLI command or a
worker batch is one transaction, and a failure leaves nothing half-written. The store imports nothing from
``bot``: what it needs of the product (a story's fields, the taxonomy) is described here as a protocol and
passed in by the caller.
"""
