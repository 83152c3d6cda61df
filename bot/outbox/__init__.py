"""The outbox: the delivery worker, the messages it sends per item (stories, weekly digests) and social posts."""
