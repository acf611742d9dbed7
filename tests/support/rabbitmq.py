"""Removes the queues a test run declared (dramatiq adds `.DQ` delay and `.XQ` dead-letter)."""

import pika


def delete_queues(url: str, *queue_names: str) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        for name in queue_names:
            for suffix in ("", ".DQ", ".XQ"):
                channel.queue_delete(queue=name + suffix)
    finally:
        connection.close()
